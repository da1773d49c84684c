"""The audit chain's files outside the ledger: its HMAC key and one anchor per ledger.

Both live in the audit directory (`NZEZA_AUDIT_DIR`; default: the user's config directory,
``$XDG_CONFIG_HOME/nzeza`` or ``~/.config/nzeza``, so neither is in a git checkout or under
``runs/``):

- ``audit.key`` — the key, generated on first use (32 random bytes as hex, mode 0600, the
  directory 0700) unless `NZEZA_AUDIT_KEY` supplies one. A key file that group or others can
  read is refused. Every ledger a user opens is chained with this one key; a shared
  (PostgreSQL) ledger needs the same key on every host, so supply it with `NZEZA_AUDIT_KEY`.
- ``anchors/<ledger id>.anchor`` — the chain's head (seq, hash) as the last writer on this
  machine committed it, with an HMAC under the key. Created with the ledger's keyed chain (at
  genesis or adoption) and by `nzeza audit anchor`; afterwards moved forward only, after each
  commit, and only when the entry it anchored is still in the chain with its hash. A missing,
  edited or foreign anchor is never rewritten by a writer: `audit verify` reports it.
- ``anchors/at-<location hash>`` — which ledger id lives at a ledger location, so that a new
  ledger created where another one was records that it replaced it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from nzeza.errors import ConfigError
from nzeza.store.audit import AuditKey
from nzeza.store.statements import canonical_bytes

try:  # advisory file locks (posix); elsewhere only one process per anchor is safe
    import fcntl
except ImportError:  # pragma: no cover - windows
    fcntl = None  # type: ignore[assignment]

KEY_FILE = "audit.key"
_MIN_KEY_CHARS = 32
_DIR_VAR = "NZEZA_AUDIT_DIR"
_KEY_VAR = "NZEZA_AUDIT_KEY"


@dataclass(frozen=True)
class AuditSetup:
    """The key and the directory of anchors, as settings resolve them."""

    directory: Path
    key_secret: str | None  # NZEZA_AUDIT_KEY, when supplied

    def key(self, create: bool) -> AuditKey | None:
        """The audit key: the supplied one, else the key file (generated when `create`)."""
        if self.key_secret is not None:
            if len(self.key_secret) < _MIN_KEY_CHARS:
                raise ConfigError(
                    _KEY_VAR,
                    f"the audit key must be at least {_MIN_KEY_CHARS} characters",
                    "use e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`",
                )
            return AuditKey(self.key_secret.encode(), _KEY_VAR)
        return read_key_file(self.directory / KEY_FILE, create)

    def anchor(self, ledger_id: str, key: AuditKey) -> Anchor:
        return Anchor(self.directory / "anchors" / f"{_safe(ledger_id)}.anchor", ledger_id, key)


def audit_setup() -> AuditSetup:
    """From settings (`NZEZA_AUDIT_KEY`, `NZEZA_AUDIT_DIR`; no other setting is read)."""
    from nzeza.ops.settings import load_audit_settings

    settings = load_audit_settings()
    secret = settings.audit_key.get_secret_value() if settings.audit_key is not None else None
    return AuditSetup(settings.effective_audit_dir, secret)


def _safe(name: str) -> str:
    return "".join(c for c in name if c.isalnum() or c in "-_")[:64] or "ledger"


def _private_dir(path: Path) -> None:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            _DIR_VAR,
            f"cannot create the audit directory {path}: {exc.strerror}",
            "set NZEZA_AUDIT_DIR to a writable directory outside the ledger",
        ) from None


def read_key_file(path: Path, create: bool) -> AuditKey | None:
    """The key in `path`; with `create`, a new random key written there first if none is
    (atomically: two processes creating it at once end up with the same key)."""
    if not path.exists():
        if not create:
            return None
        _private_dir(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, (secrets.token_hex(32) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process made one meanwhile: use theirs
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    if os.name != "nt":
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(
                _DIR_VAR,
                f"the audit key file {path} can be read by group or others (mode {mode:o})",
                f"chmod 600 {path}",
            )
    secret = path.read_text().strip()
    if len(secret) < _MIN_KEY_CHARS:
        raise ConfigError(
            _DIR_VAR,
            f"the audit key file {path} holds no valid key",
            "restore it from a backup (a new key cannot verify chains made with the old one)",
        )
    return AuditKey(secret.encode(), str(path))


# -- anchors --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchorState:
    """What the anchor file says: (seq, hash) of the chain's head, or why it cannot be used."""

    path: Path
    seq: int = 0
    hash: str = ""
    problem: str = ""  # "" when present and valid
    missing: bool = False
    ledger_id: str = ""  # the ledger it was looked up for

    @property
    def usable(self) -> bool:
        return not self.problem and not self.missing


class Anchor:
    """The anchor file of one ledger. Thread-safe; processes serialise on a file lock.

    A writer keeps the file open and rewrites its first 512 bytes in place (one `pwrite`), so
    moving the anchor after a commit costs a few system calls; what it last wrote is
    remembered, so an unchanged file is not parsed and checked again."""

    SIZE = 512

    def __init__(self, path: Path, ledger_id: str, key: AuditKey) -> None:
        self.path, self.ledger_id, self.key = path, ledger_id, key
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._uses = 0
        self._last: tuple[bytes, AnchorState] | None = None  # what this object last wrote

    def _mac(self, seq: int, digest: str) -> str:
        return self.key.mac(canonical_bytes(["anchor", self.ledger_id, seq, digest]))

    def _encode(self, seq: int, digest: str) -> bytes:
        body = {"hash": digest, "ledger_id": self.ledger_id, "seq": seq}
        data = orjson.dumps({**body, "mac": self._mac(seq, digest)}, option=orjson.OPT_SORT_KEYS)
        return data.ljust(self.SIZE)  # padding: every write covers the whole record

    def _decode(self, data: bytes) -> AnchorState:
        try:
            doc = orjson.loads(data)
            seq, digest, lid, mac = doc["seq"], doc["hash"], doc["ledger_id"], doc["mac"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return AnchorState(
                self.path,
                ledger_id=self.ledger_id,
                problem="unreadable (not an anchor file, or truncated)",
            )
        if lid != self.ledger_id:
            return AnchorState(
                self.path, ledger_id=self.ledger_id, problem=f"belongs to another ledger ({lid})"
            )
        if not isinstance(seq, int) or mac != self._mac(seq, digest):
            return AnchorState(
                self.path,
                ledger_id=self.ledger_id,
                problem="does not verify with this key (edited?)",
            )
        return AnchorState(self.path, seq, digest, ledger_id=self.ledger_id)

    def read(self) -> AnchorState:
        """What the file says now (read afresh from its path)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return AnchorState(self.path, ledger_id=self.ledger_id, missing=True)
        try:
            _flock(fd, shared=True)
            return self._decode(os.pread(fd, 1 << 16, 0))
        finally:
            os.close(fd)

    def create(self, seq: int, digest: str) -> None:
        """Write the first anchor of a new keyed chain, or replace one (`nzeza audit anchor`)."""
        _private_dir(self.path.parent)
        with self._lock:
            self._close()
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                _flock(fd, shared=False)
                self._write(fd, seq, digest)
                os.ftruncate(fd, self.SIZE)
            finally:
                os.close(fd)

    def advance(self, seq: int, digest: str, still_chained: Any) -> bool:
        """Move the anchor to (seq, digest), a head this process just committed, if it is ahead
        of the anchored one and `still_chained(anchored_seq, anchored_hash)` confirms the
        anchored entry is still in the chain. Never creates nor repairs an anchor."""
        with self._lock:
            fd = self._open()
            if fd is None:
                return False
            _flock(fd, shared=False)
            try:
                data = os.pread(fd, self.SIZE, 0)
                last = self._last
                cur = last[1] if last is not None and data == last[0] else self._decode(data)
                if not cur.usable or cur.seq >= seq or not still_chained(cur.seq, cur.hash):
                    return False
                self._write(fd, seq, digest)
                return True
            finally:
                _unlock(fd)

    def _write(self, fd: int, seq: int, digest: str) -> None:
        data = self._encode(seq, digest)
        os.pwrite(fd, data, 0)
        self._last = (data, AnchorState(self.path, seq, digest, ledger_id=self.ledger_id))

    def _open(self) -> int | None:
        """The open anchor file; reopened when it was removed meanwhile (checked every 100
        moves: anchors are written in place, never replaced by another file)."""
        self._uses += 1
        if self._fd is not None:
            if self._uses % 100 or os.fstat(self._fd).st_nlink:
                return self._fd
            self._close()
        try:
            self._fd = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            return None
        return self._fd

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        with self._lock:
            self._close()


def _flock(fd: int, shared: bool) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)


# -- which ledger lives where ---------------------------------------------------------------------


def location_of(url: str) -> str | None:
    """A ledger's location without credentials: a SQLite file's absolute path, or a
    PostgreSQL server and database. None for an in-memory ledger."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if not path or path == ":memory:":
            return None
        return "sqlite:" + str(Path(path).resolve())
    rest = url.split("://", 1)[-1]
    return "postgresql:" + rest.rsplit("@", 1)[-1].split("?", 1)[0]


def previous_ledger(directory: Path, location: str | None) -> str | None:
    """The id of the ledger last created at `location` on this machine, if any."""
    if location is None:
        return None
    path = _location_file(directory, location)
    with contextlib.suppress(OSError):
        return path.read_text().strip() or None
    return None


def record_location(directory: Path, location: str | None, ledger_id: str) -> None:
    if location is None:
        return
    path = _location_file(directory, location)
    _private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(ledger_id)
    os.replace(tmp, path)


def _location_file(directory: Path, location: str) -> Path:
    name = hashlib.sha256(location.encode()).hexdigest()[:24]
    return directory / "anchors" / f"at-{name}"


__all__ = [
    "KEY_FILE",
    "Anchor",
    "AnchorState",
    "AuditSetup",
    "audit_setup",
    "location_of",
    "previous_ledger",
    "read_key_file",
    "record_location",
]
