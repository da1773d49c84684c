"""The HTTP shell every local exchange simulator runs in: an aiohttp app on 127.0.0.1 at a free
port, each request recorded in `requests` as (method, path)."""

from __future__ import annotations

from typing import Any

from aiohttp import web


class LocalServer:
    """Subclasses add their endpoints in `routes(app)`; `start()` answers the base URL."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    def routes(self, app: web.Application) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def middlewares(self) -> list[Any]:
        """A simulator's own request handling (auth, injected faults), after the request log."""
        return []

    async def start(self) -> str:
        app = web.Application(middlewares=[self._log, *self.middlewares()])
        self.routes(app)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _log(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        return await handler(request)
