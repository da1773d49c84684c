"""The audit chain's files outside the ledger: the key (generated 0600 on first use, or supplied
by `NZEZA_AUDIT_KEY`, never shown) and the anchor (moved forward only, never created, repaired
or rolled forward over a chain it no longer matches)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nzeza.errors import ConfigError
from nzeza.ops.settings import default_audit_dir, describe, load_audit_settings, load_settings
from nzeza.secrets import redact
from nzeza.store.audit import AuditKey
from nzeza.store.auditfiles import KEY_FILE, Anchor, AuditSetup


def test_a_key_is_generated_on_first_use_readable_by_its_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "audit"
    assert AuditSetup(folder, None).key(create=False) is None  # reading never creates one
    key = AuditSetup(folder, None).key(create=True)
    path = folder / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert len(path.read_text().strip()) == 64
    assert AuditSetup(folder, None).key(create=True) == key  # the same key from then on
    assert key.secret.decode() not in repr(key)


def test_two_processes_generating_the_key_at_once_get_the_same_one(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from nzeza.store.auditfiles import AuditSetup
        sys.stdin.readline()
        print(AuditSetup(Path(sys.argv[1]), None).key(create=True).key_id)
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / "audit")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outs = [p.communicate("go\n", timeout=60)[0].strip() for p in procs]
    assert len(set(outs)) == 1 and outs[0]
    assert [p.name for p in (tmp_path / "audit").iterdir()] == [KEY_FILE]  # no leftovers


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    AuditSetup(tmp_path, None).key(create=True)
    (tmp_path / KEY_FILE).chmod(0o644)
    with pytest.raises(ConfigError) as err:
        AuditSetup(tmp_path, None).key(create=True)
    assert err.value.variable == "NZEZA_AUDIT_DIR" and "chmod 600" in str(err.value)


def test_a_supplied_key_is_checked_registered_and_never_shown(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("NZEZA_AUDIT_KEY", "short-key")
    with pytest.raises(ConfigError) as err:
        load_audit_settings()
    assert err.value.variable == "NZEZA_AUDIT_KEY" and "short-key" not in str(err.value)
    secret = "Audit-Key-Canary-" + "z" * 40
    monkeypatch.setenv("NZEZA_AUDIT_KEY", secret)
    monkeypatch.setenv("NZEZA_AUDIT_DIR", str(tmp_path / "audit"))
    settings = load_settings(require_live=False)
    assert redact(f"oops {secret}") == "oops ***"
    shown = describe(settings)
    assert shown["audit_key"] == "(set, masked)" and secret not in str(shown)
    assert shown["audit_dir"] == str(tmp_path / "audit")
    key = AuditSetup(settings.effective_audit_dir, secret).key(create=True)
    assert key.source == "NZEZA_AUDIT_KEY" and not (tmp_path / "audit").exists()


def test_the_default_audit_dir_is_the_users_config_dir(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert default_audit_dir() == tmp_path / "cfg" / "nzeza"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert default_audit_dir() == Path.home() / ".config" / "nzeza"


KEY = AuditKey(b"k" * 64)


def anchor(tmp_path: Path) -> Anchor:
    return Anchor(tmp_path / "anchors" / "L.anchor", "L", KEY)


def always(_seq: int, _hash: str) -> bool:
    return True


def test_an_anchor_moves_forward_only(tmp_path: Path) -> None:
    a = anchor(tmp_path)
    assert not a.advance(5, "h5", always)  # never creates one
    assert a.read().missing
    a.create(3, "h3")
    assert a.advance(5, "h5", always)
    assert not a.advance(4, "h4", always)
    assert not a.advance(9, "h9", lambda seq, h: False)  # anchored entry gone: left alone
    state = a.read()
    assert (state.seq, state.hash, state.usable) == (5, "h5", True)


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (lambda b: b.replace(b'"seq":5', b'"seq":2'), "does not verify with this key"),
        (lambda b: b[:20], "unreadable"),
        (lambda b: b.replace(b'"ledger_id":"L"', b'"ledger_id":"M"'), "another ledger"),
    ],
)
def test_a_tampered_anchor_is_reported_never_repaired(tmp_path: Path, tamper, problem) -> None:
    a = anchor(tmp_path)
    a.create(3, "h3")
    a.advance(5, "h5", always)
    a.path.write_bytes(tamper(a.path.read_bytes()))
    fresh = anchor(tmp_path)
    assert problem in fresh.read().problem
    assert not fresh.advance(9, "h9", always)
    assert problem in anchor(tmp_path).read().problem


def test_two_processes_moving_one_anchor(tmp_path: Path) -> None:
    a = anchor(tmp_path)
    a.create(0, "h0")
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from nzeza.store.audit import AuditKey
        from nzeza.store.auditfiles import Anchor
        a = Anchor(Path(sys.argv[1]), "L", AuditKey(b"k" * 64))
        start = int(sys.argv[2])
        sys.stdin.readline()
        for seq in range(start, 2000, 2):
            a.advance(seq, f"h{seq}", lambda s, h: True)
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(a.path), str(start)],
            stdin=subprocess.PIPE,
            text=True,
        )
        for start in (1, 2)
    ]
    for p in procs:
        p.communicate("go\n", timeout=120)
        assert p.returncode == 0
    state = anchor(tmp_path).read()
    assert state.usable and state.seq == 1999 and state.hash == "h1999"
    assert os.path.getsize(a.path) == Anchor.SIZE
