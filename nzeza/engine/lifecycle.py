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
from typing import Any

from nzeza.errors import ValidationError
from nzeza.ops.logging import get_logger
from nzeza.ops.risksettings import RiskSettings, loosened, risk_config_record

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
    return rec


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def config_differences(recorded: dict[str, Any], given: dict[str, Any], mode: str) -> list[str]:
    """Every key on which `given` differs from `recorded`, as "key recorded → given"."""
    out: list[str] = []
    skip = set(LIVE_DERIVED) if mode == "live" else set()
    for key in sorted((set(recorded) & set(given)) - skip):
        was, now = _plain(recorded[key]), _plain(given[key])
        if was == now:
            continue
        if isinstance(was, dict) and isinstance(now, dict):
            for sub in sorted(set(was) | set(now)):
                if was.get(sub) != now.get(sub):
                    out.append(f"{key}.{sub} {was.get(sub)} → {now.get(sub)}")
        else:
            out.append(f"{key} {was} → {now}")
    return out


def check_resume(ledger: Any, session_id: str, mode: str, record: dict[str, Any]) -> None:
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


def record_loosened(ledger: Any, session_id: str, risk: RiskSettings, equity: Decimal) -> None:
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
    "record_loosened",
]
