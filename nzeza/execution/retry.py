"""Retries with exponential backoff, only for failures a venue says are retryable.

Timeouts, 429 and 5xx are `VenueError(retryable=True)`; rejects (bad order, insufficient
funds, auth) are `retryable=False` and are raised at once. Sleep and randomness are injected so
tests run instantly and deterministically.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from nzeza.errors import ConfigError, VenueError
from nzeza.ops.backoff import Backoff

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """`max_attempts` tries in all; delay before retry k (1-based) is
    min(max_delay, base × factor^(k−1)) × (1 ± jitter), in seconds."""

    max_attempts: int = 5
    base_delay: float = 0.2
    factor: float = 2.0
    max_delay: float = 10.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_delay < 0 or self.factor < 1:
            raise ConfigError("retry", "needs max_attempts >= 1, base_delay >= 0, factor >= 1")
        if not 0 <= self.jitter < 1:
            raise ConfigError("retry.jitter", f"must be in [0, 1), got {self.jitter}")

    @cached_property
    def _backoff(self) -> Backoff:
        return Backoff(self.base_delay, self.max_delay, self.factor, self.jitter)

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds before retry `retry` (1-based): the one backoff policy, `nzeza.ops.backoff`
        (without an `rng`, no jitter: the ceiling itself)."""
        backoff = self._backoff
        return backoff.delay(retry - 1, rng) if rng is not None else backoff.ceiling(retry - 1)


async def with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy | None = None,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
    on_retry: Callable[[int, VenueError, float], None] | None = None,
) -> T:
    """Await `call()`; on a retryable `VenueError` back off and try again, up to the policy."""
    policy = policy or RetryPolicy()
    attempt = 1
    while True:
        try:
            return await call()
        except VenueError as exc:
            if not exc.retryable or attempt >= policy.max_attempts:
                raise
            delay = policy.delay(attempt, rng)
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            await sleep(delay)
            attempt += 1


__all__ = [
    "RetryPolicy",
    "with_retries",
]
