"""A session's life in the ledger: a safe id, the record it starts with, the check a resume
must pass, and the limits it runs looser than the defaults.

A session id names files (`runs/logs/<id>.jsonl`, the session lock, the kill file), so it is
1–64 letters, digits, `.`, `_` or `-`, starting with a letter or digit: `../../x` is refused.

The record stored with a session (`sessions.config`) is everything that decides what it trades:
feed, symbol and instrument, timeframe, costs, starting cash (paper), volatility targeting and
the risk configuration. A resume (the same id again) must present the same record: each
difference is named and nothing is written. Records from before a key existed are not compared
on that key.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from nzeza.errors import ValidationError
from nzeza.ops.logging import get_logger
from nzeza.ops.risksettings import RiskSettings, loosened, risk_config_record

if TYPE_CHECKING:
    from nzeza.store import Ledger


log = get_logger("nzeza.engine.session")

SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# keys of the record a live resume does not compare: derived from the account at each start
LIVE_DERIVED = ("init_cash",)


def check_session_id(session_id: Any, field: str = "session_id") -> str:
    """Return `session_id`, or raise `ValidationError` naming `field` if it is not safe."""
    if not isinstance(session_id, str) or not SESSION_ID.match(session_id):
        raise ValidationError(
            field,
            session_id,
            "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit "
            "(it names the session's files under runs/)",
        )
    return session_id


def full_record(config: Any) -> dict[str, Any]:
    """The record of `config` (a `SessionConfig`): the caller's (feed, timeframe text, …) and
    what the config itself decides, so every session is compared on the same keys."""
    rec = dict(config.record)
    rec.setdefault("fee", config.costs.fee)
    rec.setdefault("slippage", config.costs.slippage)
    rec.setdefault("init_cash", float(config.init_cash))
    rec["instrument"] = config.instrument.id
    # the code it runs: the promotion gates and `nzeza divergence` rebuild it from this
    from nzeza.strategies.identity import identify

    who = identify(config.strategy)
    rec["family"], rec["identity"] = who.family, who.identity
    rec["timeframe_ns"] = config.timeframe_ns
    vol = config.vol_targeting
    rec["vol_targeting"] = (
        None
        if vol is None
        else {
            "target_vol": vol.target_vol,
            "lookback": vol.lookback,
            "periods_per_year": vol.periods_per_year,
            "max_leverage": vol.max_leverage,
            "step": vol.step,
        }
    )
    rec["risk"] = None if config.risk is None else risk_config_record(config.risk)
    inst = config.instrument
    if inst.kind == "perpetual":  # only then: spot sessions keep the record they always had
        rec["perp"] = {
            "leverage": str(config.leverage),
            "max_leverage": str(inst.max_leverage),
            "maintenance_margin_rate": str(inst.maintenance_margin_rate),
            "funding_interval_hours": inst.funding_interval_hours,
        }
    policy = config.policy
    # None for market orders: a session started before sessions placed other orders has no
    # key (not compared on resume); one started since refuses a resume with another policy
    rec["orders"] = None if policy.is_market else policy.record()
    return rec


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _websocket(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("ws://", "wss://"))


def config_differences(recorded: dict[str, Any], given: dict[str, Any], mode: str) -> list[str]:
    """Every key on which `given` differs from `recorded`, as "key recorded → given".

    A websocket feed's address is not compared (a replay server or a venue endpoint may move
    between a crash and the restart); what it streams is: the symbol and instrument are."""
    out: list[str] = []
    skip = set(LIVE_DERIVED) if mode == "live" else set()
    for key in sorted((set(recorded) & set(given)) - skip):
        was, now = _plain(recorded[key]), _plain(given[key])
        if was == now or (key == "feed" and _websocket(was) and _websocket(now)):
            continue
        if isinstance(was, dict) and isinstance(now, dict):
            for sub in sorted(set(was) | set(now)):
                if was.get(sub) != now.get(sub):
                    out.append(f"{key}.{sub} {was.get(sub)} → {now.get(sub)}")
        else:
            out.append(f"{key} {was} → {now}")
    return out


def check_resume(ledger: Ledger, session_id: str, mode: str, record: dict[str, Any]) -> None:
    """Refuse to resume `session_id` with a configuration other than the one it started with."""
    row = ledger.session(session_id)
    if row is None:
        return
    diffs = [] if row["mode"] == mode else [f"mode {row['mode']} → {mode}"]
    diffs += config_differences(json.loads(row["config"] or "{}"), record, mode)
    if diffs:
        raise ValidationError(
            "session_id",
            session_id,
            f"was started with another configuration ({'; '.join(diffs)}): resume it with the "
            "settings it was started with, or start a new session id",
        )


def kill_check(runs_dir: Any, session_id: str) -> Any:
    """What a session polls at every event: the reason of the first kill switch engaged among
    its own (`<runs>/kill/<id>`) and the global one (`<runs>/KILL`), else None."""
    from nzeza.risk import KillSwitch, global_kill_file, session_kill_file

    switches = (
        KillSwitch(session_kill_file(runs_dir, session_id)),
        KillSwitch(global_kill_file(runs_dir)),
    )

    def engaged() -> str | None:
        for switch in switches:
            if switch.engaged():
                return switch.reason
        return None

    return engaged


def refuse_if_killed(runs_dir: Any, session_id: str) -> None:
    """A killed session stays killed until released: refuse to start it."""
    from nzeza.risk import kill_reason, session_kill_file

    reason = kill_reason(session_kill_file(runs_dir, session_id))
    if reason is not None:
        raise ValidationError(
            "session_id",
            session_id,
            f"was killed ({reason}): release it with `nzeza kill {session_id} --release` "
            "to run it again",
        )


def kill_session(ledger: Ledger, runs_dir: Any, session_id: str, reason: str) -> str:
    """Engage one session's kill switch (the CLI's `nzeza kill ID` and the notebook's): its
    file, watched by the session at every event, and an audit record in the ledger. Returns a
    line saying what happened."""
    from nzeza.risk import session_kill_file, write_kill_file
    from nzeza.store.locks import lock_holder

    check_session_id(session_id)
    row = ledger.session(session_id)
    if row is None:
        raise ValidationError("session", session_id, "is not in the ledger")
    path = write_kill_file(session_kill_file(runs_dir, session_id), reason)
    ledger.audit("kill_requested", {"reason": reason, "file": str(path)}, session_id)
    holder = lock_holder(ledger, session_id)
    where = (
        f"it stops at its next event ({holder})"
        if holder
        else f"it is not running ({row['status']}) and will refuse to start until released"
    )
    return f"kill switch engaged for session {session_id}: {where}; wrote {path}"


def release_session(ledger: Ledger, runs_dir: Any, session_id: str) -> str:
    """Release one session's kill switch, so it may be started (resumed) again."""
    from nzeza.risk import session_kill_file

    check_session_id(session_id)
    path = session_kill_file(runs_dir, session_id)
    if not path.exists():
        return f"session {session_id} has no kill switch engaged"
    path.unlink()
    ledger.audit("kill_released", {"file": str(path)}, session_id)
    return f"kill switch of session {session_id} released"


def record_loosened(ledger: Ledger, session_id: str, risk: RiskSettings, equity: Decimal) -> None:
    """A risk event for every limit set looser than its default (compared at `equity`)."""
    for name, default, given in loosened(risk, equity):
        detail = f"limit loosened: {name} {default} → {given}"
        ledger.record_risk_event(session_id, "limit_loosened", default, given, detail)
        log.warning("risk limit loosened", extra={"limit": name, "default": default, "to": given})


__all__ = [
    "SESSION_ID",
    "check_resume",
    "check_session_id",
    "config_differences",
    "full_record",
    "kill_check",
    "kill_session",
    "record_loosened",
    "refuse_if_killed",
    "release_session",
]
