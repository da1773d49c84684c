"""Prometheus metrics of a session, on a registry of its own (several sessions per process and
tests stay independent). The engine, feeds, risk and execution update them through this object.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Decision-to-ack latency spans tens of microseconds (paper) to seconds (a slow venue).
LATENCY_BUCKETS = (
    25e-6,
    50e-6,
    100e-6,
    250e-6,
    500e-6,
    1e-3,
    2.5e-3,
    5e-3,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)

WS_STATES = {"disconnected": 0, "connecting": 1, "connected": 2, "failed": 3}
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}


class Metrics:
    """Every nzeza metric, registered on `self.registry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.decision_to_ack = Histogram(
            "nzeza_decision_to_ack_seconds",
            "Time from a strategy decision to the venue's ack",
            ["venue"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.orders_submitted = Counter(
            "nzeza_orders_submitted_total", "Orders sent to a venue", ["venue"], registry=r
        )
        self.orders_filled = Counter(
            "nzeza_orders_filled_total", "Orders completely filled", ["venue"], registry=r
        )
        self.orders_rejected = Counter(
            "nzeza_orders_rejected_total",
            "Orders rejected, by reason",
            ["venue", "reason"],
            registry=r,
        )
        self.risk_rejections = Counter(
            "nzeza_risk_rejections_total",
            "Pre-trade risk rejections, by check",
            ["check"],
            registry=r,
        )
        self.ws_state = Gauge(
            "nzeza_ws_state",
            "Websocket state (0 disconnected, 1 connecting, 2 connected, 3 failed)",
            ["venue"],
            registry=r,
        )
        self.ws_reconnects = Counter(
            "nzeza_ws_reconnects_total", "Websocket reconnects", ["venue"], registry=r
        )
        self.messages = Counter(
            "nzeza_feed_messages_total", "Feed messages received", ["venue"], registry=r
        )
        self.parse_errors = Counter(
            "nzeza_feed_parse_errors_total",
            "Feed messages that failed to parse",
            ["venue"],
            registry=r,
        )
        self.breaker_state = Gauge(
            "nzeza_circuit_breaker_state",
            "Circuit breaker (0 closed, 1 half-open, 2 open)",
            ["name"],
            registry=r,
        )
        self.rate_limiter_tokens = Gauge(
            "nzeza_rate_limiter_tokens",
            "Tokens left in a venue's rate limiter",
            ["venue"],
            registry=r,
        )
        self.daily_pnl = Gauge("nzeza_daily_pnl", "PnL since the UTC day start", registry=r)
        self.equity = Gauge("nzeza_equity", "Equity at marks", registry=r)
        self.open_positions = Gauge("nzeza_open_positions", "Open positions", registry=r)
        self.bar_lag = Gauge(
            "nzeza_bar_lag_seconds", "Delay between a bar's close and its processing", registry=r
        )
        self.bars = Counter("nzeza_bars_total", "Closed bars processed", registry=r)
        # a portfolio session's symbols (single-symbol sessions leave them empty)
        self.position = Gauge(
            "nzeza_position", "Units held per symbol (signed)", ["symbol"], registry=r
        )
        self.exposure = Gauge(
            "nzeza_exposure", "Position value / equity per symbol (signed)", ["symbol"], registry=r
        )

    def set_ws_state(self, venue: str, state: str) -> None:
        self.ws_state.labels(venue).set(WS_STATES[state])

    def set_breaker_state(self, name: str, state: str) -> None:
        self.breaker_state.labels(name).set(BREAKER_STATES[state])

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


__all__ = [
    "BREAKER_STATES",
    "LATENCY_BUCKETS",
    "WS_STATES",
    "Metrics",
]
