"""ccxt exceptions as `VenueError`: retryable for network trouble, timeouts, 429/DDoS and
unavailability; not for invalid orders, insufficient funds, auth and bad requests."""

from __future__ import annotations

from nzeza.errors import VenueError, clip


def map_error(venue: str, exc: BaseException, http_status: int | None = None) -> VenueError:
    """A ccxt exception as a VenueError with the right retryable flag (message redacted).

    `http_status`, when known, catches what ccxt classifies by body alone: a 408/425/429 or 5xx
    answer whose JSON error code ccxt maps to a generic ExchangeError is still retryable, and
    any other 4xx answer is not (ccxt calls unrecognised ones "ExchangeNotAvailable").
    """
    import ccxt

    retryable_types = (
        ccxt.RequestTimeout,
        ccxt.DDoSProtection,  # includes RateLimitExceeded (HTTP 429)
        ccxt.ExchangeNotAvailable,  # includes OnMaintenance (5xx)
        ccxt.NetworkError,
    )
    never = (ccxt.InvalidOrder, ccxt.InsufficientFunds, ccxt.AuthenticationError, ccxt.BadRequest)
    retryable = isinstance(exc, retryable_types) and not isinstance(exc, never)
    if http_status is not None:
        if http_status in (408, 425, 429) or http_status >= 500:
            retryable = not isinstance(exc, never)
        elif 400 <= http_status < 500 and not isinstance(exc, ccxt.DDoSProtection):
            # ccxt files unrecognised 4xx bodies under ExchangeNotAvailable; a request the
            # venue refused as malformed or unauthorised fails the same way when sent again.
            # (Rate limiting ccxt recognised, e.g. Binance's 418 ban, stays retryable.)
            retryable = False
    code = type(exc).__name__
    text = clip(str(exc), 300)  # redacted before the cut: no secret's head survives
    return VenueError(venue, text or code, retryable=retryable, code=code)


__all__ = ["map_error"]
