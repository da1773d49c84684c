"""The kill switch: a file, a signal, or a call; once engaged, no new order passes risk.

The engine polls `engaged()` on every event and every check, so the switch takes effect within
one event of the file appearing. `nzeza kill` writes the file (`write_kill_file`): the global
one (`<runs>/KILL`, every session) or one session's (`<runs>/kill/<session id>`,
`session_kill_file`). Removing the file does not disengage a switch that was engaged by it:
restarting trading is a deliberate `release()`.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

DEFAULT_KILL_FILE = Path("runs/KILL")


def global_kill_file(runs_dir: Path | str) -> Path:
    """The kill file every session under `runs_dir` watches."""
    return Path(runs_dir) / "KILL"


def session_kill_file(runs_dir: Path | str, session_id: str) -> Path:
    """The kill file of one session (its id is checked safe by the caller: it names a file)."""
    return Path(runs_dir) / "kill" / session_id


def kill_reason(path: Path) -> str | None:
    """The reason written in a kill file, or None when there is no such file."""
    try:
        return path.read_text(encoding="utf-8").strip() or "no reason given"
    except FileNotFoundError:
        return None


def write_kill_file(path: Path | str = DEFAULT_KILL_FILE, reason: str = "manual") -> Path:
    """Create the kill file (and its folder) with a one-line reason; returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(reason.strip() + "\n", encoding="utf-8")
    os.replace(tmp, p)  # atomic: a poller never sees a half-written file
    return p


class KillSwitch:
    """Engaged by `engage()`, by a signal handler, or by the kill file existing."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.reason: str | None = None

    def engage(self, reason: str = "manual") -> None:
        if self.reason is None:
            self.reason = reason

    def release(self) -> None:
        self.reason = None

    def engaged(self) -> bool:
        """Poll: True once engaged by any means. One `stat` call when a file is configured."""
        if self.reason is None and self.path is not None and self.path.exists():
            try:
                text = self.path.read_text(encoding="utf-8").strip()
            except OSError:
                text = ""
            self.reason = f"kill file {self.path}" + (f": {text}" if text else "")
        return self.reason is not None

    def install_signal_handler(self, signum: int = signal.SIGUSR1) -> None:
        """Engage on `signum` (main thread only, as Python requires for signal handlers)."""
        signal.signal(signum, lambda s, _f: self.engage(f"signal {signal.Signals(s).name}"))


__all__ = [
    "DEFAULT_KILL_FILE",
    "KillSwitch",
    "global_kill_file",
    "kill_reason",
    "session_kill_file",
    "write_kill_file",
]
