"""The architecture document's layer table is the import contract, and the package never
reaches into the tests (test doubles such as the exchange simulators live under tests/)."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _doc_layers() -> list[str]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = text.split("<!-- layers:begin -->", 1)[1].split("<!-- layers:end -->", 1)[0]
    return re.findall(r"^\| `(nzeza[\w.]*)` \|", table, flags=re.M)


def _contract_layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["type"] == "layers"]
    return [name.strip("()") for name in layers]


def test_the_documented_layers_are_the_import_contract() -> None:
    assert _doc_layers() == _contract_layers()


def test_every_package_folder_is_a_layer() -> None:
    folders = {
        f"nzeza.{p.name}"
        for p in (ROOT / "nzeza").iterdir()
        if p.is_dir() and (p / "__init__.py").exists()
    }
    modules = {f"nzeza.{p.stem}" for p in (ROOT / "nzeza").glob("*.py") if p.stem != "__init__"}
    assert folders | modules <= set(_contract_layers()) | {"nzeza.__main__"}


def test_no_package_module_imports_tests_or_simulators() -> None:
    offenders = []
    for path in (ROOT / "nzeza").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in ("tests", "support", "conftest") or ".sim." in f".{name}.":
                    offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []
