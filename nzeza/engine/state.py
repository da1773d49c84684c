"""The session state machine, as data.

created ──start──► recovering ──recovered──► running ──stop──► stopping ──stopped──► stopped
                                               │  ▲
                                        halt (kill switch / breaker) │ resume
                                               ▼  │
                                             halted ──stop──► stopping
any non-terminal ──fail──► failed
"""

from __future__ import annotations

from enum import StrEnum

from nzeza.errors import SessionStateError


class SessionState(StrEnum):
    CREATED = "created"
    RECOVERING = "recovering"
    RUNNING = "running"
    HALTED = "halted"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


S = SessionState
TRANSITIONS: dict[SessionState, dict[str, SessionState]] = {
    S.CREATED: {"start": S.RECOVERING, "fail": S.FAILED},
    S.RECOVERING: {"recovered": S.RUNNING, "stop": S.STOPPING, "fail": S.FAILED},
    S.RUNNING: {"halt": S.HALTED, "stop": S.STOPPING, "fail": S.FAILED},
    S.HALTED: {"resume": S.RUNNING, "stop": S.STOPPING, "fail": S.FAILED},
    S.STOPPING: {"stopped": S.STOPPED, "fail": S.FAILED},
    S.STOPPED: {},
    S.FAILED: {},
}


class SessionMachine:
    """Holds the state; `fire(event)` moves it per the table or raises."""

    def __init__(self) -> None:
        self.state = SessionState.CREATED
        self.history: list[tuple[SessionState, str, SessionState]] = []

    def can(self, event: str) -> bool:
        return event in TRANSITIONS[self.state]

    def fire(self, event: str) -> SessionState:
        target = TRANSITIONS[self.state].get(event)
        if target is None:
            raise SessionStateError(self.state, event)
        self.history.append((self.state, event, target))
        self.state = target
        return target

    @property
    def accepts_orders(self) -> bool:
        return self.state is SessionState.RUNNING


__all__ = [
    "TRANSITIONS",
    "S",
    "SessionMachine",
    "SessionState",
]
