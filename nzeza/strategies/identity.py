"""Strategy identity: which code, with which parameters, produced a result.

    identify(SmaCross(fast=10, slow=30))
    → family      "nzeza.strategies.technical:SmaCross"   (module:QualName, the class path)
      source_hash "3f0c…"  (sha256 of the class's normalised source, 64 hex)
      identity    "nzeza.strategies.technical:SmaCross@3f0c…"  (family@first 16 hex)
      params_hash "9a1e…"  (sha256 of the canonical JSON of every parameter, 64 hex)

Two classes with the same short `name` are two strategies: a user class `evil:sma_cross` whose
`name` is "sma_cross" has another family and another source hash than the shipped one.

What the source hash covers. The class's own source **plus the module-level code it uses**: the
functions, classes, constants and import statements of its module that it refers to, followed
transitively (`SmaCross` → `_ready`; `TrendRsiCombo` → `rsi`), and the source hash of every base
class defined outside `nzeza.strategies.base` (the framework itself is versioned with nzeza, not
with each strategy). Not the whole module: editing `RsiReversion` must not change the identity
of `SmaCross`, which lives in the same file. Code imported from other modules is covered only
through the import statement that names it, except from the indicators
(`nzeza.strategies.indicators`, `FOLLOWED_MODULES`): a name imported from there brings in its
function's code and what that uses, the same way (a change to `sma` changes what `SmaCross`
does, so it changes `SmaCross`'s identity). The text is normalised before hashing: it is the
syntax tree (`ast.dump` without positions) with docstrings removed, so whitespace, comments and
docstrings do not change an identity, and any change to what the code does does.

Where the source cannot be read (a class defined in a notebook cell, with `exec`, or inside a
function), the fallback hashes the class's compiled code instead: the bytecode, constants and
names of every method and property, the values of its class attributes, and the same of the
module-level functions and classes those methods name. `method` says which one was used
("source" or "bytecode"); the two never produce the same hash.

For `Strategy` subclasses the module's source text is captured when the class is created, so a
file edited on disk after import does not lend its new source to the old, running code.

The trial registry groups trials by **family** (the class path), not by identity: a cosmetic
edit never resets a group's trial count, and a real code change adds trials to the same group
(see `nzeza.research.trials`).
"""

from __future__ import annotations

import ast
import copy
import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import sys
import types
import weakref
from dataclasses import dataclass
from typing import Any

from nzeza.strategies.base import Strategy
from nzeza.strategies.snapshots import module_snapshot, snapshot_of

# the framework's base classes: versioned with nzeza, not part of a strategy's identity
FRAMEWORK_MODULES = frozenset({"nzeza.strategies.base", "builtins"})
# modules whose functions a strategy's identity covers like its own module's code
FOLLOWED_MODULES = frozenset({"nzeza.strategies.indicators"})

_IDENTITIES: weakref.WeakKeyDictionary[type, StrategyIdentity] = weakref.WeakKeyDictionary()
_TREES: dict[str, tuple[str, ast.Module]] = {}  # module name → (source text, parsed tree)


@dataclass(frozen=True)
class StrategyIdentity:
    """A strategy's code: its class path and the hash of its (normalised) source."""

    family: str  # "module:QualName"
    source_hash: str  # sha256 hex
    method: str  # "source" | "bytecode"

    @property
    def identity(self) -> str:
        return f"{self.family}@{self.source_hash[:16]}"

    def __str__(self) -> str:
        return self.identity


@dataclass(frozen=True)
class Identified:
    """One configuration: the strategy's code identity, its full parameters and their hash."""

    strategy: StrategyIdentity
    name: str  # the short display name (`Strategy.name`, or the class name)
    params: dict[str, Any]
    params_hash: str

    @property
    def family(self) -> str:
        return self.strategy.family

    @property
    def identity(self) -> str:
        return self.strategy.identity


def class_path(cls: type) -> str:
    """`module:QualName` of a class (the strategy family)."""
    return f"{cls.__module__}:{cls.__qualname__}"


def canonical_params(params: dict[str, Any]) -> str:
    """Deterministic JSON of parameters (sorted keys, no spaces; numpy scalars as Python)."""

    def plain(value: Any) -> Any:
        return value.item() if hasattr(value, "item") and callable(value.item) else str(value)

    return json.dumps(dict(params), sort_keys=True, separators=(",", ":"), default=plain)


def params_digest(params: dict[str, Any]) -> str:
    """sha256 hex of the canonical JSON of a configuration's parameters."""
    return hashlib.sha256(canonical_params(params).encode()).hexdigest()


def strategy_params(strategy: Any) -> dict[str, Any]:
    """Every parameter of a strategy instance.

    A `Strategy` has `.params`. Any other object with a `target` method: its `params` mapping (if
    any) updated with its public scalar attributes, so two instances that differ in an attribute
    set in `__init__` are two configurations.
    """
    if isinstance(strategy, Strategy):
        return dict(strategy.params)
    out = dict(getattr(strategy, "params", None) or {})
    for key, value in vars(strategy).items() if hasattr(strategy, "__dict__") else ():
        if not key.startswith("_") and isinstance(value, bool | int | float | str | type(None)):
            out[key] = value
    return out


def identify(strategy: Any) -> Identified:
    """Identity, full parameters and parameters hash of a strategy instance."""
    cls = type(strategy)
    params = strategy_params(strategy)
    name = getattr(strategy, "name", None) or cls.__name__
    return Identified(strategy_identity(cls), str(name), params, params_digest(params))


def strategy_identity(cls: type) -> StrategyIdentity:
    """The identity of a strategy class (computed once per class object)."""
    if not isinstance(cls, type):
        cls = type(cls)
    found = _IDENTITIES.get(cls)
    if found is None:
        found = _IDENTITIES[cls] = _compute(cls)
    return found


# -- source hash ------------------------------------------------------------------------------
def _compute(cls: type) -> StrategyIdentity:
    digest = _source_digest(cls)
    if digest is not None:
        return StrategyIdentity(class_path(cls), digest, "source")
    return StrategyIdentity(class_path(cls), _bytecode_digest(cls), "bytecode")


def _tree(cls: type) -> ast.Module | None:
    text = snapshot_of(cls)
    if text is None:
        try:
            text = inspect.getsource(sys.modules[cls.__module__])
        except (KeyError, OSError, TypeError):
            return None
    return _parsed(cls.__module__, text)


def _parsed(module: str, text: str) -> ast.Module | None:
    """`text` parsed (cached per module while its text is the same), None if it does not parse."""
    cached = _TREES.get(module)
    if cached is not None and cached[0] == text:
        return cached[1]
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    _TREES[module] = (text, tree)
    return tree


def _bound_names(node: ast.stmt) -> list[str]:
    """The module-level names a top-level statement defines."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [node.name]
    if isinstance(node, ast.Import | ast.ImportFrom):
        return [(a.asname or a.name).split(".")[0] for a in node.names]
    if isinstance(node, ast.Try | ast.If):  # `try: import x` / `if ...: def f` at module level
        blocks = [node.body, node.orelse, getattr(node, "finalbody", [])]
        blocks += [h.body for h in getattr(node, "handlers", [])]
        return [name for block in blocks for stmt in block for name in _bound_names(stmt)]
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign | ast.AugAssign):
        targets = [node.target]
    names = []
    for target in targets:
        names += [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
    return names


def _used_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _strip_docstrings(node: ast.AST) -> ast.AST:
    for sub in ast.walk(node):
        body = getattr(sub, "body", None)
        if (
            isinstance(sub, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            sub.body = body[1:] or [ast.Pass()]
    return node


def _compiled_from_module_file(cls: type) -> bool:
    """Whether the class's methods were compiled from its module's file (not from `exec` or a
    notebook cell that merely runs as `__main__`): only then is that file its source."""
    path = getattr(sys.modules.get(cls.__module__), "__file__", None)
    if not path:
        return False
    want = os.path.realpath(path)
    for value in vars(cls).values():
        if isinstance(value, staticmethod | classmethod):
            value = value.__func__
        if isinstance(value, property):
            value = value.fget
        code = getattr(value, "__code__", None)
        if code is not None and os.path.realpath(code.co_filename) != want:
            return False
    return True


def _source_digest(cls: type) -> str | None:
    if "<locals>" in cls.__qualname__ or not _compiled_from_module_file(cls):
        return None
    tree = _tree(cls)
    if tree is None:
        return None
    top = cls.__qualname__.split(".")[0]
    defs = _definitions(tree)
    if top not in defs:
        return None
    # the class statement (the last binding of its name: what the module ends up holding)
    start = max(i for i in defs[top] if isinstance(tree.body[i], ast.ClassDef))
    keep = _closure(tree, defs, {start})
    parts = _dumps(tree, keep)
    parts += _followed(tree, keep, cls.__module__)
    parts += _foreign_bases(cls)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _definitions(tree: ast.Module) -> dict[str, list[int]]:
    """Module-level name → the indices of the statements that bind it."""
    defs: dict[str, list[int]] = {}
    for i, stmt in enumerate(tree.body):
        for name in _bound_names(stmt):
            defs.setdefault(name, []).append(i)
    return defs


def _closure(tree: ast.Module, defs: dict[str, list[int]], start: set[int]) -> set[int]:
    """The statements `start` uses, transitively through module-level names."""
    keep, todo = set(start), list(start)
    while todo:
        for name in _used_names(tree.body[todo.pop()]):
            for i in defs.get(name, []):
                if i not in keep:
                    keep.add(i)
                    todo.append(i)
    return keep


def _dumps(tree: ast.Module, keep: set[int]) -> list[str]:
    return [
        ast.dump(_strip_docstrings(copy.deepcopy(tree.body[i])), include_attributes=False)
        for i in sorted(keep)
    ]


def _followed(tree: ast.Module, keep: set[int], module: str) -> list[str]:
    """The code of what the kept statements import from `FOLLOWED_MODULES`."""
    out = []
    used = set().union(*(_used_names(tree.body[i]) for i in keep))
    for i in sorted(keep):
        stmt = tree.body[i]
        if isinstance(stmt, ast.ImportFrom):
            try:
                source = importlib.util.resolve_name("." * stmt.level + (stmt.module or ""), module)
            except (ImportError, ValueError):
                continue
            if source not in FOLLOWED_MODULES:
                continue
            # the names the strategy's code uses (one import statement may serve several)
            names = sorted(a.name for a in stmt.names if (a.asname or a.name) in used)
            out.append(f"from {source} import {names}")
            other = _module_tree(source)
            if other is None:
                out.append("source unavailable")
                continue
            other_defs = _definitions(other)
            start = {j for name in names for j in other_defs.get(name, [])}
            out += _dumps(other, _closure(other, other_defs, start))
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.name in FOLLOWED_MODULES:  # `import nzeza.strategies.indicators as ind`
                    other = _module_tree(alias.name)
                    out.append(f"import {alias.name}")
                    out += _dumps(other, set(range(len(other.body)))) if other else ["?"]
    return out


def _module_tree(name: str) -> ast.Module | None:
    """The parsed source of a followed module, as captured when it was imported."""
    text = module_snapshot(name)
    if text is None:
        try:
            importlib.import_module(name)
            text = module_snapshot(name) or inspect.getsource(sys.modules[name])
        except (ImportError, KeyError, OSError, TypeError):
            return None
    return _parsed(name, text)


def _foreign_bases(cls: type) -> list[str]:
    """Identities of base classes from other modules (the same module is covered by the tree)."""
    out = []
    for base in cls.__mro__[1:]:
        if base is object or base.__module__ in FRAMEWORK_MODULES:
            continue
        if base.__module__ != cls.__module__:
            out.append(f"base {strategy_identity(base).identity}")
    return out


# -- bytecode fallback ------------------------------------------------------------------------
def _stable_repr(value: Any) -> str:
    """repr, with set members sorted (their order depends on the process's hash seed)."""
    if isinstance(value, set | frozenset):
        return f"{type(value).__name__}({sorted(_stable_repr(v) for v in value)})"
    if isinstance(value, tuple):
        return f"({', '.join(_stable_repr(v) for v in value)})"
    return repr(value)


def _code_parts(code: types.CodeType, module: str, seen: set[int], out: list[str]) -> None:
    consts = []
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            _code_parts(c, module, seen, out)
            consts.append("<code>")
        else:
            consts.append(_stable_repr(c))
    out.append(f"code {code.co_name} {code.co_code.hex()} {consts} {code.co_names}")
    globs = getattr(sys.modules.get(module), "__dict__", {})
    for name in code.co_names:  # module-level helpers the code calls
        value = globs.get(name)
        if getattr(value, "__module__", None) == module and id(value) not in seen:
            _object_parts(value, module, seen, out)


def _object_parts(obj: Any, module: str, seen: set[int], out: list[str]) -> None:
    seen.add(id(obj))
    if isinstance(obj, types.FunctionType):
        _code_parts(obj.__code__, module, seen, out)
    elif isinstance(obj, type):
        out.append(f"class {obj.__qualname__} {[class_path(b) for b in obj.__bases__]}")
        for key, value in sorted(vars(obj).items()):
            if key in ("__dict__", "__weakref__", "__module__", "__doc__", "_param_types"):
                continue
            if isinstance(value, staticmethod | classmethod):
                value = value.__func__
            if isinstance(value, property):
                for f in (value.fget, value.fset):
                    if f is not None:
                        out.append(f"property {key}")
                        _code_parts(f.__code__, module, seen, out)
            elif isinstance(value, types.FunctionType):
                out.append(f"def {key}")
                _code_parts(value.__code__, module, seen, out)
            else:
                out.append(f"attr {key}={_stable_repr(value)}")


def _bytecode_digest(cls: type) -> str:
    out: list[str] = ["bytecode"]
    _object_parts(cls, cls.__module__, set(), out)
    out += _foreign_bases(cls)
    return hashlib.sha256("\n".join(out).encode()).hexdigest()


__all__ = [
    "Identified",
    "StrategyIdentity",
    "canonical_params",
    "class_path",
    "identify",
    "params_digest",
    "strategy_identity",
    "strategy_params",
]
