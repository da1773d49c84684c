"""One backoff policy for every retry in nzeza: websocket reconnects, venue order calls and
history downloads.

The wait before retry `n` (0-based) is drawn below the ceiling `min(cap_s, base_s * factor**n)`:
with `jitter=None` ("full jitter") uniformly in [0, ceiling], which spreads the reconnects of
many clients after an exchange outage; with a fraction `jitter=j`, in ceiling × (1 ± j); with
`jitter=0`, exactly the ceiling. Randomness is injected so tests are deterministic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from nzeza.errors import ConfigError


@dataclass
class Backoff:
    """Exponential backoff with jitter (see the module docstring); times in seconds."""

    base_s: float = 0.5
    cap_s: float = 30.0
    factor: float = 2.0
    jitter: float | None = None  # None: full jitter
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.cap_s < 0 or self.factor < 1:
            raise ConfigError("backoff", "needs base_s >= 0, cap_s >= 0 and factor >= 1")
        if self.jitter is not None and not 0 <= self.jitter < 1:
            raise ConfigError("backoff.jitter", f"must be in [0, 1), got {self.jitter}")

    def ceiling(self, attempt: int) -> float:
        return min(self.cap_s, self.base_s * self.factor ** max(0, attempt))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number `attempt` (0-based)."""
        top = self.ceiling(attempt)
        draw = rng or self.rng
        if self.jitter is None:
            return draw.uniform(0.0, top)
        if self.jitter == 0:
            return top
        return top * (1 + draw.uniform(-self.jitter, self.jitter))


__all__ = ["Backoff"]
