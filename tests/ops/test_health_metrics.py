"""/metrics and /healthz over real HTTP on loopback."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from nzeza.ops.health import Health, OpsServer
from nzeza.ops.metrics import Metrics


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_metrics_and_health_endpoints() -> None:
    metrics, health = Metrics(), Health()
    state = {"feed_fresh": True}
    health.register("feed", lambda: (state["feed_fresh"], {"age_s": 0.2}))
    health.register("ledger", lambda: (True, "writable"))
    metrics.orders_submitted.labels("paper").inc(3)
    metrics.risk_rejections.labels("max_notional").inc()
    metrics.decision_to_ack.labels("paper").observe(0.0004)
    metrics.set_breaker_state("binance-ws", "open")
    with OpsServer(metrics, health) as server:
        code, body = get(server.url + "/metrics")
        text = body.decode()
        assert code == 200
        assert 'nzeza_orders_submitted_total{venue="paper"} 3.0' in text
        assert 'nzeza_risk_rejections_total{check="max_notional"} 1.0' in text
        assert 'nzeza_circuit_breaker_state{name="binance-ws"} 2.0' in text
        assert 'nzeza_decision_to_ack_seconds_bucket{le="0.0005",venue="paper"} 1.0' in text
        code, body = get(server.url + "/healthz")
        assert code == 200
        doc = json.loads(body)
        assert doc["status"] == "ok"
        assert doc["components"]["feed"] == {"healthy": True, "detail": {"age_s": 0.2}}
        state["feed_fresh"] = False
        code, body = get(server.url + "/healthz")
        assert code == 503
        assert json.loads(body)["components"]["feed"]["healthy"] is False
        assert get(server.url + "/nope")[0] == 404


def test_a_raising_check_is_unhealthy_not_a_crash() -> None:
    health = Health()

    def broken():
        raise RuntimeError("venue unreachable")

    health.register("venue", broken)
    ok, doc = health.status()
    assert not ok
    assert "venue unreachable" in doc["components"]["venue"]["detail"]


def test_a_cached_check_runs_once_per_interval_and_one_at_a_time() -> None:
    import threading
    import time

    from nzeza.ops.health import CachedCheck

    calls, running, most = [0], [0], [0]

    def slow() -> tuple[bool, str]:
        running[0] += 1
        most[0] = max(most[0], running[0])
        calls[0] += 1
        time.sleep(0.01)
        running[0] -= 1
        return True, "ok"

    check = CachedCheck(slow, ttl_s=60.0)
    threads = [threading.Thread(target=check) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls[0] == 1 and most[0] == 1
    assert check() == (True, "ok") and calls[0] == 1
