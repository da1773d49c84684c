"""The source text a strategy class was compiled from, captured when the class is created.

`Strategy.__init_subclass__` calls `snapshot_source`; the strategy identity
(`nzeza.strategies.identity`) hashes that text, so editing a module after import does not
change the identity of the class already running.
"""

from __future__ import annotations

import inspect
import sys
import weakref

_SNAPSHOTS: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()
_MODULES: dict[str, str] = {}  # module name → its source text when it was imported


def snapshot_source(cls: type) -> None:
    """Capture the source text of `cls`'s module now (called when a `Strategy` subclass is
    created): the identity is then computed from the code that was actually compiled."""
    try:
        text = inspect.getsource(sys.modules[cls.__module__])
    except (KeyError, OSError, TypeError):
        return
    _SNAPSHOTS[cls] = text


def snapshot_of(cls: type) -> str | None:
    """The captured source of `cls`'s module, or None when it was not captured."""
    return _SNAPSHOTS.get(cls)


def snapshot_module(name: str) -> None:
    """Capture a module's source text now (called by a module whose functions strategy
    identities cover, `nzeza.strategies.indicators`, as it is imported)."""
    try:
        _MODULES[name] = inspect.getsource(sys.modules[name])
    except (KeyError, OSError, TypeError):
        return


def module_snapshot(name: str) -> str | None:
    """The source text captured by `snapshot_module`, or None."""
    return _MODULES.get(name)


__all__ = ["module_snapshot", "snapshot_module", "snapshot_of", "snapshot_source"]
