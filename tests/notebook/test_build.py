"""The notebooks as `make notebooks` writes them (scripts/build_notebooks.py): stable bytes and
the metadata JupyterLab would otherwise rewrite when it opens them."""

from __future__ import annotations

import json
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from support.notebook_source import builder, source_notebook

NAMES = sorted(builder().NOTEBOOKS)


def test_rebuilding_gives_the_same_bytes(tmp_path: Path) -> None:
    for name in NAMES:
        first = source_notebook(name, tmp_path / "a").read_bytes()
        assert source_notebook(name, tmp_path / "b").read_bytes() == first, name


def test_metadata_is_what_jupyterlab_writes(tmp_path: Path) -> None:
    """JupyterLab rewrites a kernelspec that differs from the installed one (the stored
    notebooks said "Python 3" where ipykernel installs "Python 3 (ipykernel)") and adds cell
    ids to nbformat < 4.5: either marks the notebook modified as it opens."""
    installed = KernelSpecManager().get_kernel_spec("python3")
    for name in NAMES:
        nb = json.loads(source_notebook(name, tmp_path).read_text())
        assert (nb["nbformat"], nb["nbformat_minor"]) == (4, 5)
        assert nb["metadata"]["kernelspec"] == {
            "name": "python3",
            "display_name": installed.display_name,
            "language": installed.language,
        }
        ids = [c["id"] for c in nb["cells"]]
        assert ids == [f"{name}-{i:02d}" for i in range(len(ids))]


def test_every_notebook_checks_its_parameters_first(tmp_path: Path) -> None:
    for name in NAMES:
        cells = json.loads(source_notebook(name, tmp_path).read_text())["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        assert "parameters" in code[0]["metadata"]["tags"], name
        assert "use_parameters(globals())" in "".join(code[1]["source"]), name


def test_every_stored_notebook_matches_its_paired_script() -> None:
    """Each notebooks/NN_name.ipynb is paired with NN_name.py (jupytext, percent format): the
    script is the reviewable source, and a stored notebook whose cells drifted from it fails
    here (rebuild with `make notebooks`)."""
    import jupytext

    bn = builder()
    stored = sorted(p.stem for p in bn.NB_DIR.glob("[0-9][0-9]_*.ipynb"))
    assert stored == NAMES  # no notebook without its script, no script without its notebook
    for name in NAMES:
        notebook = jupytext.read(bn.NB_DIR / f"{name}.ipynb")
        assert bn.cells(notebook) == bn.cells(jupytext.read(bn.NOTEBOOKS[name])), name
        assert notebook.metadata["jupytext"]["formats"] == "ipynb,py:percent", name


def test_make_notebooks_keeps_an_edit_made_in_jupyterlab(tmp_path: Path, monkeypatch) -> None:
    """A notebook edited in JupyterLab after its script (the pairing not active) has its cells
    written back to the script before the rebuild, so the edit is kept, not overwritten."""
    import os
    import shutil

    import jupytext

    bn = builder()
    name = "05_live"
    script, notebook = tmp_path / f"{name}.py", tmp_path / f"{name}.ipynb"
    shutil.copy(bn.NOTEBOOKS[name], script)
    shutil.copy(bn.NB_DIR / f"{name}.ipynb", notebook)
    monkeypatch.setitem(bn.NOTEBOOKS, name, script)
    assert not bn.keep_notebook_edits(name, tmp_path)  # nothing edited: nothing written
    nb = jupytext.read(notebook)
    nb.cells[-1].source += "\nprint('my edit')"
    jupytext.write(nb, notebook)
    os.utime(script, (1, 1))  # the script is older than the edit
    assert bn.keep_notebook_edits(name, tmp_path)
    assert "print('my edit')" in script.read_text()
    assert bn.cells(jupytext.read(script)) == bn.cells(jupytext.read(notebook))
