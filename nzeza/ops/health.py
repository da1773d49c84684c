"""Health: named component checks, and one HTTP endpoint for `/healthz` and `/metrics`.

A check is a callable returning `(healthy, detail)`. `/healthz` answers JSON with every
component's state: 200 when all are healthy, 503 when any is not (or a check raises).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from nzeza.ops.metrics import Metrics
from nzeza.secrets import redact

Check = Callable[[], tuple[bool, Any]]


class CachedCheck:
    """A check run at most once per `ttl_s`, by one thread at a time: a burst of `/healthz`
    requests (one thread each) costs one probe, and never more than one at once."""

    def __init__(self, check: Check, ttl_s: float = 1.0) -> None:
        self.check = check
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._last: tuple[float, tuple[bool, Any]] | None = None

    def __call__(self) -> tuple[bool, Any]:
        with self._lock:
            now = time.monotonic()
            if self._last is not None and now - self._last[0] < self.ttl_s:
                return self._last[1]
            result = self.check()
            self._last = (time.monotonic(), result)
            return result


class Health:
    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def register(self, name: str, check: Check) -> None:
        self._checks[name] = check

    def status(self) -> tuple[bool, dict[str, Any]]:
        components: dict[str, Any] = {}
        healthy = True
        for name, check in list(self._checks.items()):
            try:
                ok, detail = check()
            except Exception as exc:  # a failing check is itself unhealthy, never a 500
                ok, detail = False, f"check raised {type(exc).__name__}: {exc}"
            components[name] = {"healthy": bool(ok), "detail": detail}
            healthy = healthy and bool(ok)
        return healthy, {"status": "ok" if healthy else "unhealthy", "components": components}


class OpsServer:
    """Serves `/metrics` (Prometheus) and `/healthz` (JSON) on a background thread."""

    def __init__(self, metrics: Metrics, health: Health, host: str = "127.0.0.1", port: int = 0):
        self.metrics = metrics
        self.health = health
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/metrics"):
                    body, code, ctype = outer.metrics.render(), 200, "text/plain; version=0.0.4"
                elif self.path.startswith("/healthz"):
                    ok, doc = outer.health.status()
                    body = redact(json.dumps(doc, default=str)).encode()
                    code, ctype = (200 if ok else 503), "application/json"
                else:
                    body, code, ctype = b"not found", 404, "text/plain"
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # keep scrapes out of the logs
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name="nzeza-ops-http"
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OpsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OpsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = [
    "CachedCheck",
    "Check",
    "Health",
    "OpsServer",
]
