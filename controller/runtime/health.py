"""A tiny asyncio HTTP server for /metrics, /healthz and /readyz (stdlib only).

Probes and Prometheus scrapes are GETs of a fixed path with a short answer, so a full web
framework is not worth its weight: one request per connection, then close.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from http import HTTPStatus

log = logging.getLogger(__name__)

# A route answers (status, content type, body).
Route = Callable[[], tuple[int, str, bytes]]

TEXT = "text/plain; charset=utf-8"


def parse_bind_address(address: str) -> tuple[str | None, int] | None:
    """`host:port`, `:port` (all interfaces) or `[v6]:port`; "0" or "" means disabled."""
    if address in ("", "0"):
        return None
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"bind address {address!r} is not host:port")
    host = host.strip("[]")
    return (host or None), int(port)


def probe(check: Callable[[], bool], failing: str) -> Route:
    """A route answering 200 "ok" while check() holds, else 503 with `failing`."""

    def route() -> tuple[int, str, bytes]:
        if check():
            return 200, TEXT, b"ok\n"
        return 503, TEXT, failing.encode() + b"\n"

    return route


class HttpServer:
    """Serves fixed routes on one address until closed."""

    def __init__(self, address: str, routes: Mapping[str, Route]):
        self.address = address
        self.routes = dict(routes)
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int | None:
        """The bound port (useful with port 0)."""
        if self._server is None or not self._server.sockets:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        bind = parse_bind_address(self.address)
        if bind is None:
            return
        host, port = bind
        self._server = await asyncio.start_server(self._serve, host, port)
        log.info("serving %s on %s", ", ".join(sorted(self.routes)), self.address)

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                request = (await reader.readline()).decode("latin-1").split()
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # headers: nothing here needs them
            status, ctype, body = self._answer(request)
            head = request[0] if request else ""
            reason = HTTPStatus(status).phrase
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            )
            if head != "HEAD":
                writer.write(body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass

    def _answer(self, request: list[str]) -> tuple[int, str, bytes]:
        if len(request) < 2:
            return 400, TEXT, b"bad request\n"
        method, path = request[0], request[1].split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return 405, TEXT, b"method not allowed\n"
        route = self.routes.get(path)
        if route is None:
            return 404, TEXT, b"not found\n"
        try:
            return route()
        except Exception:
            log.exception("route %s failed", path)
            return 500, TEXT, b"internal error\n"
