"""A strategy class from what a person types: a shipped name, `module:Class` or a file path.

    strategy_class("sma_cross")                        # shipped (nzeza strategies)
    strategy_class("my_package.signals:MyStrat")       # importable module
    strategy_class("strategies/my_strat.py:MyStrat")   # a file, no package needed

A file is imported as the module named after its stem (`my_strat`), so `my_strat.py:MyStrat`
and `my_strat:MyStrat` (with the folder on `sys.path`) are the same family in the trial
registry (`module:Class`), wherever the file lies. A stem that is already the name of another
imported module (`json.py`) is refused: rename the file. Loading the same file again re-runs
it only when its text changed, so a notebook that edits its strategy file gets the new code
(and a new identity: `nzeza.strategies.identity` hashes the source it was compiled from).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from nzeza.errors import ValidationError

_FILES: dict[str, tuple[str, Any]] = {}  # resolved path → (text, module)


def is_file_spec(module: str) -> bool:
    return module.endswith(".py") or "/" in module or "\\" in module


def strategy_class(spec: str) -> type:
    """The class `spec` names (see the module docstring); `ValidationError` naming the spec."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValidationError("strategy", spec, "must be a name, module:Class or path.py:Class")
    if ":" not in spec:
        from nzeza.strategies import get_strategy

        return get_strategy(spec)
    module_part, _, cls_name = spec.rpartition(":")
    if not module_part or not cls_name:
        raise ValidationError("strategy", spec, "must be module:Class or path/to/file.py:Class")
    if is_file_spec(module_part):
        module = load_file(module_part, spec)
    else:
        module = _import(module_part, spec)
    obj: Any = module
    for part in cls_name.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            found = ", ".join(n for n, _ in strategies_in(module)) or "none"
            raise ValidationError(
                "strategy", spec, f"{module.__name__} has no {cls_name} (strategies in it: {found})"
            )
    if not isinstance(obj, type) or not (hasattr(obj, "target") or hasattr(obj, "targets")):
        raise ValidationError(
            "strategy", spec, "is not a strategy class (needs a target(bars) method)"
        )
    return obj


def _import(module: str, spec: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ValidationError("strategy", spec, f"cannot be imported: {exc}") from None
    except Exception as exc:  # the user's module raised while importing
        raise ValidationError(
            "strategy", spec, f"importing {module} raised {type(exc).__name__}: {exc}"
        ) from None


def load_file(path_text: str, spec: str | None = None) -> Any:
    """Import a Python file as the module named after its stem (see the module docstring)."""
    spec = spec or path_text
    path = Path(path_text).expanduser()
    if path.suffix != ".py" or not path.is_file():
        raise ValidationError("strategy", spec, f"no such Python file: {path}")
    path = path.resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError("strategy", spec, f"cannot read {path}: {exc}") from None
    name = path.stem
    if not name.isidentifier():
        raise ValidationError(
            "strategy", spec, f"{path.name}: the file name must be a Python identifier"
        )
    cached = _FILES.get(str(path))
    if cached is not None and cached[0] == text and sys.modules.get(name) is cached[1]:
        return cached[1]
    present = sys.modules.get(name)
    if present is not None and (cached is None or present is not cached[1]):
        where = getattr(present, "__file__", None)
        if where is None or Path(where).resolve() != path:
            raise ValidationError(
                "strategy",
                spec,
                f"a module named {name!r} is already imported ({where or 'built in'}); "
                "rename the file",
            )
    module_spec = importlib.util.spec_from_file_location(name, path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # before running it: the identity reads the module's source
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ValidationError(
            "strategy", spec, f"running {path.name} raised {type(exc).__name__}: {exc}"
        ) from None
    _FILES[str(path)] = (text, module)
    return module


def strategies_in(module: Any) -> list[tuple[str, type]]:
    """The strategy classes a module defines itself (not those it imports), in source order."""
    from nzeza.strategies.base import Strategy

    found = []
    for name, obj in vars(module).items():
        if (
            isinstance(obj, type)
            and issubclass(obj, Strategy)
            and obj is not Strategy
            and obj.__module__ == module.__name__
        ):
            found.append((name, obj))

    def line(item: tuple[str, type]) -> int:
        try:
            return inspect.getsourcelines(item[1])[1]
        except (OSError, TypeError):
            return 0

    return sorted(found, key=line)


def discover(folder: str | Path) -> list[tuple[str, type]]:
    """(`path.py:Class`, class) for every strategy class of the `*.py` files in `folder`."""
    root = Path(folder)
    if not root.is_dir():
        raise ValidationError("--dir", str(folder), "is not a folder")
    out = []
    for path in sorted(root.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module = load_file(str(path))
        out += [(f"{path}:{name}", cls) for name, cls in strategies_in(module)]
    return out


__all__ = ["discover", "is_file_spec", "load_file", "strategies_in", "strategy_class"]
