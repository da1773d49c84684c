"""Circuit breaker as a sans-I/O state machine whose transitions are a table.

closed ──(N failures within `window_s`)──► open ──(open timeout elapsed)──► half_open
half_open ──success──► closed;  half_open ──failure──► open (the timeout doubles, capped)

The open timeout grows exponentially with consecutive trips (`base_timeout_s * 2**(trips-1)`,
capped at `max_timeout_s`) and resets when the breaker closes again. Time comes from an
injected clock (`clock() -> seconds`), so tests drive it without sleeping. Every transition
is appended to `transitions` and passed to the `on_transition(old, new, reason)` callbacks
(metrics hook here later).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from time import monotonic

from nzeza.errors import BreakerTransitionError, ConfigError


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerEvent(StrEnum):
    TRIP = "trip"  # failure threshold reached (closed) or the trial failed (half_open)
    TIMEOUT = "timeout"  # the open period elapsed
    SUCCESS = "success"  # the trial call succeeded


# {state: {event: new_state}}; anything not listed is a programming error.
TRANSITIONS: dict[BreakerState, dict[BreakerEvent, BreakerState]] = {
    BreakerState.CLOSED: {BreakerEvent.TRIP: BreakerState.OPEN},
    BreakerState.OPEN: {BreakerEvent.TIMEOUT: BreakerState.HALF_OPEN},
    BreakerState.HALF_OPEN: {
        BreakerEvent.SUCCESS: BreakerState.CLOSED,
        BreakerEvent.TRIP: BreakerState.OPEN,
    },
}


@dataclass(frozen=True, slots=True)
class Transition:
    at: float
    old: BreakerState
    new: BreakerState
    reason: str


TransitionCallback = Callable[[BreakerState, BreakerState, str], None]


class CircuitBreaker:
    """Guards a flaky dependency (a venue connection). Ask `allow()` before each attempt.

    Args:
        name: for messages and metrics.
        failure_threshold: failures within `window_s` that open the breaker.
        window_s: sliding window for counting failures (seconds).
        base_timeout_s / max_timeout_s: the open period of the first trip, and its cap.
        clock: returns seconds (monotonic); injectable for tests.
    """

    def __init__(
        self,
        name: str = "breaker",
        *,
        failure_threshold: int = 5,
        window_s: float = 60.0,
        base_timeout_s: float = 1.0,
        max_timeout_s: float = 300.0,
        clock: Callable[[], float] = monotonic,
        on_transition: TransitionCallback | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ConfigError(f"{name}.failure_threshold", f"must be >= 1, got {failure_threshold}")
        self.name = name
        self.failure_threshold = failure_threshold
        self.window_s = window_s
        self.base_timeout_s = base_timeout_s
        self.max_timeout_s = max_timeout_s
        self._clock = clock
        self._callbacks: list[TransitionCallback] = [on_transition] if on_transition else []
        self.state = BreakerState.CLOSED
        self._failures: deque[float] = deque()
        self.trips = 0  # consecutive trips since last close
        self.total_trips = 0
        self.opened_at: float | None = None
        self.transitions: list[Transition] = []

    def add_listener(self, fn: TransitionCallback) -> None:
        self._callbacks.append(fn)

    @property
    def open_timeout_s(self) -> float:
        """The current open period: base * 2**(trips-1), capped."""
        if self.trips <= 0:
            return self.base_timeout_s
        return min(self.base_timeout_s * 2 ** (self.trips - 1), self.max_timeout_s)

    def _fire(self, event: BreakerEvent, reason: str) -> None:
        allowed = TRANSITIONS[self.state]
        if event not in allowed:
            raise BreakerTransitionError(self.name, self.state.value, event.value)
        old, new = self.state, allowed[event]
        self.state = new
        now = self._clock()
        self.transitions.append(Transition(now, old, new, reason))
        for fn in self._callbacks:
            fn(old, new, reason)

    def allow(self) -> bool:
        """May an attempt be made now? Moves open → half_open once the timeout has elapsed."""
        if self.state is BreakerState.OPEN:
            assert self.opened_at is not None
            if self._clock() - self.opened_at >= self.open_timeout_s:
                self._fire(BreakerEvent.TIMEOUT, f"open for {self.open_timeout_s:g}s")
                return True
            return False
        return True

    def seconds_until_retry(self) -> float:
        """How long until `allow()` may return True (0 when it already does)."""
        if self.state is not BreakerState.OPEN or self.opened_at is None:
            return 0.0
        return max(0.0, self.opened_at + self.open_timeout_s - self._clock())

    def record_success(self) -> None:
        """The guarded call worked."""
        if self.state is BreakerState.HALF_OPEN:
            self._fire(BreakerEvent.SUCCESS, "trial succeeded")
            self.trips = 0
            self._failures.clear()
        elif self.state is BreakerState.CLOSED:
            self._prune(self._clock())

    def record_failure(self, reason: str = "failure") -> None:
        """The guarded call failed."""
        now = self._clock()
        if self.state is BreakerState.HALF_OPEN:
            self._trip(now, f"trial failed: {reason}")
        elif self.state is BreakerState.CLOSED:
            self._failures.append(now)
            self._prune(now)
            if len(self._failures) >= self.failure_threshold:
                self._trip(now, f"{len(self._failures)} failures in {self.window_s:g}s: {reason}")
        # failures reported while open (late callbacks) change nothing

    def _trip(self, now: float, reason: str) -> None:
        self.trips += 1
        self.total_trips += 1
        self.opened_at = now
        self._failures.clear()
        self._fire(BreakerEvent.TRIP, reason)

    def _prune(self, now: float) -> None:
        while self._failures and now - self._failures[0] > self.window_s:
            self._failures.popleft()

    def diagram(self) -> str:
        """The transition table as Mermaid state-diagram text."""
        lines = ["stateDiagram-v2"]
        for src, edges in TRANSITIONS.items():
            for ev, dst in edges.items():
                lines.append(f"    {src.value} --> {dst.value}: {ev.value}")
        return "\n".join(lines)


__all__ = [
    "TRANSITIONS",
    "BreakerEvent",
    "BreakerState",
    "BreakerTransitionError",
    "CircuitBreaker",
    "Transition",
]
