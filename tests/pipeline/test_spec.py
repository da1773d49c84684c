"""Pipeline specs: validation, run ids and per-run placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest

from nzeza.errors import ValidationError
from nzeza.pipeline import load_spec


def test_bad_spec_errors(project: Path) -> None:
    bad = project / "pipelines" / "bad.yaml"
    bad.write_text("notebook: notebooks/missing.ipynb\n")
    with pytest.raises(ValidationError) as err:
        load_spec(bad)
    assert err.value.field == "notebook"
    bad.write_text("notebook: notebooks/toy.ipynb\ngrid: {x: []}\n")
    with pytest.raises(ValidationError) as err:
        load_spec(bad)
    assert err.value.field == "grid"
    bad.write_text("notebook: notebooks/toy.ipynb\nretrys: 2\n")
    with pytest.raises(ValidationError, match="unknown keys"):
        load_spec(bad)
    bad.write_text("notebook: notebooks/toy.ipynb\nworkers: true\n")
    with pytest.raises(ValidationError) as err:
        load_spec(bad)
    assert err.value.field == "workers"
    bad.write_text("notebook: notebooks/toy.ipynb\nschedule: '5-2 * * * *'\n")
    with pytest.raises(ValidationError) as err:
        load_spec(bad)
    assert err.value.field == "schedule"


def test_placeholders_give_each_run_and_execution_its_own_state(project: Path) -> None:
    spec_path = project / "pipelines" / "p.yaml"
    spec_path.write_text(
        "notebook: notebooks/toy.ipynb\n"
        "parameters:\n"
        "  session_id: '${pipeline}-${run_id}-${execution}'\n"
        "  ledger_url: 'sqlite:///${output}/ledger.sqlite'\n"
        "  note: 'JSON stays as is: {\"a\": 1}'\n"
        "grid: {x: [1, 2]}\n"
    )
    spec = load_spec(spec_path)
    first, second = spec.planned("E1"), spec.planned("E2")
    ids = [p["session_id"] for _, p in first + second]
    assert len(set(ids)) == 4
    assert ids[0] == f"p-{first[0][0]}-E1"
    assert first[0][1]["ledger_url"] == f"sqlite:///{project / 'runs/pipelines/p'}/ledger.sqlite"
    assert first[0][1]["note"] == 'JSON stays as is: {"a": 1}'
    # run ids are stable across executions (the placeholders are hashed unexpanded)
    assert [rid for rid, _ in first] == [rid for rid, _ in second]


def test_runs_that_would_share_a_session_are_refused(project: Path) -> None:
    """The paper pipeline's bug: two parallel sessions under one id and one ledger."""
    spec_path = project / "pipelines" / "p.yaml"
    spec_path.write_text(
        "notebook: notebooks/toy.ipynb\nparameters: {session_id: nb04}\ngrid: {x: [1, 2]}\n"
    )
    with pytest.raises(ValidationError, match=r"shared by 2 runs") as err:
        load_spec(spec_path)
    assert err.value.field == "session_id"
    spec_path.write_text(
        "notebook: notebooks/toy.ipynb\nparameters: {session_id: '${nope}'}\ngrid: {x: [1]}\n"
    )
    with pytest.raises(ValidationError, match="unknown placeholder"):
        load_spec(spec_path)


def test_overrides_narrow_the_grid_and_keep_the_checks(project: Path) -> None:
    spec = load_spec(project / "pipelines" / "toy.yaml")
    narrowed = spec.with_overrides({"x": 3, "label": "b"})
    assert narrowed.runs() == [{"label": "b", "x": 3}]
    with pytest.raises(ValidationError, match="shared by 3 runs"):
        spec.with_overrides({"session_id": "same"})
