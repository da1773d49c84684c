"""The one safe way to submit an order: never a duplicate, even after a timeout.

A timeout (or any retryable failure) on submit leaves the outcome unknown: the venue may have
the order. So before any resubmission we look the order up by its client order id; only a
venue that answers "no such order" gets the submission again. The client id is deterministic
(`client_ids.client_order_id`), so the same procedure also works after a process restart.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from nzeza.errors import VenueError
from nzeza.execution.retry import RetryPolicy, with_retries
from nzeza.ops.logging import get_logger

log = get_logger(__name__)
DEFAULT_POLICY = RetryPolicy()


class SubmitVenue(Protocol):
    """The part of `nzeza.venues.Venue` this procedure needs."""

    name: str

    async def submit(self, request: Any) -> Any: ...

    async def fetch_order(
        self,
        instrument_id: str,
        *,
        client_order_id: str | None = None,
        venue_order_id: str | None = None,
    ) -> Any | None: ...


async def submit_idempotent(
    venue: SubmitVenue,
    request: Any,
    policy: RetryPolicy = DEFAULT_POLICY,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
) -> Any:
    """Submit `request` (it carries `client_order_id` and `instrument_id`) exactly once.

    Returns the venue's order. Non-retryable errors (rejects) propagate at once; retryable ones
    trigger a lookup by client id (itself retried) and, only if the venue has no such order, a
    resubmission after backoff. Gives up with the last error after `policy.max_attempts`.
    """
    cid = request.client_order_id
    attempt = 1
    while True:
        try:
            return await venue.submit(request)
        except VenueError as exc:
            if not exc.retryable:
                raise
            log.warning(
                "submit outcome unknown; looking up by client id",
                extra={"venue": venue.name, "client_order_id": cid, "attempt": attempt},
            )

            async def lookup() -> Any | None:
                return await venue.fetch_order(request.instrument_id, client_order_id=cid)

            found = await with_retries(lookup, policy, sleep=sleep, rng=rng)
            if found is not None:
                return found  # the first submission reached the venue: do not send again
            if attempt >= policy.max_attempts:
                raise
            await sleep(policy.delay(attempt, rng))
            attempt += 1


__all__ = [
    "DEFAULT_POLICY",
    "SubmitVenue",
    "submit_idempotent",
]
