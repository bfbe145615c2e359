"""The kubelet's HTTPS endpoint, as far as the API server uses it here: logs and health.

`kubectl logs` reaches `GET /containerLogs/{namespace}/{pod}/{container}` through the API
server, which presents its kubelet client certificate (verified against the cluster CA when
.local/pki/ca.crt exists). Query: follow, previous, tailLines, timestamps, sinceSeconds,
sinceTime, limitBytes. `kubectl exec` arrives as a WebSocket on /exec/... (execserver.py);
attach and port-forward are not served.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from nodeagent.execserver import handle_exec
from nodeagent.logread import (
    LogOptions,
    complete_lines,
    limited,
    parse_records,
    parse_timestamp,
    read_tail,
    render,
    select_tail,
)
from nodeagent.logs import run_logs
from nodeagent.node import Node

log = logging.getLogger(__name__)
FOLLOW_POLL = 0.25


class LogRequestError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def ssl_context(pki: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki / "kubelet-serving.crt", pki / "kubelet-serving.key")
    if (pki / "ca.crt").exists():
        ctx.load_verify_locations(pki / "ca.crt")
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def parse_options(query: dict[str, str], now: float) -> LogOptions:
    def flag(name: str) -> bool:
        return query.get(name, "").lower() in ("1", "true", "yes")

    def number(name: str) -> int | None:
        raw = query.get(name)
        if raw in (None, ""):
            return None
        try:
            return int(raw)
        except ValueError as exc:
            raise LogRequestError(400, f"invalid {name}: {raw!r}") from exc

    since = None
    if number("sinceSeconds") is not None:
        since = now - float(number("sinceSeconds") or 0)
    elif query.get("sinceTime"):
        try:
            since = parse_timestamp(query["sinceTime"])
        except ValueError as exc:
            raise LogRequestError(400, f"invalid sinceTime: {query['sinceTime']!r}") from exc
    return LogOptions(
        tail_lines=number("tailLines"),
        since=since,
        timestamps=flag("timestamps"),
        limit_bytes=number("limitBytes"),
        follow=flag("follow"),
    )


class KubeletServer:
    def __init__(self, node: Node, pki: Path):
        self.node = node
        self.pki = pki
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/pods", self._pods)
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        for path in (
            "/exec/{namespace}/{pod}/{container}",
            "/exec/{namespace}/{pod}/{uid}/{container}",
        ):
            app.router.add_route("*", path, self._exec)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, "127.0.0.1", self.node.port, ssl_context=ssl_context(self.pki)
        )
        await site.start()
        log.info("%s: kubelet endpoint on https://127.0.0.1:%d", self.node.name, self.node.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        return await handle_exec(self.node, request)

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _pods(self, _: web.Request) -> web.Response:
        items = [w.pod for w in self.node.workers.values()]
        return web.json_response({"kind": "PodList", "apiVersion": "v1", "items": items})

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        ns, pod, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
        try:
            opts = parse_options(dict(request.query), time.time())
            path, active = self._log_file(ns, pod, container, _flag(request, "previous"))
        except LogRequestError as exc:
            return web.Response(status=exc.status, text=str(exc))
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        budget = [opts.limit_bytes]
        try:
            chunk, offset = _initial(path, opts)
            if await _send(resp, chunk, budget) and opts.follow:
                await _follow(resp, path, offset, opts, active, budget)
            await resp.write_eof()
        except ConnectionResetError:
            pass  # the client went away (e.g. an interrupted `kubectl logs -f`)
        return resp

    def _log_file(
        self, ns: str, pod: str, container: str, previous: bool
    ) -> tuple[Path, Callable[[], bool]]:
        worker = self.node.find_pod(ns, pod)
        if worker is None:
            raise LogRequestError(404, f'pod "{pod}" in namespace "{ns}" not found on this node')
        names = [
            c["name"]
            for c in (worker.pod["spec"].get("initContainers") or [])
            + (worker.pod["spec"].get("containers") or [])
        ]
        if container not in names:
            raise LogRequestError(400, f"container {container} is not valid for pod {pod}")
        files = run_logs(worker.log_dir, container)
        if previous:
            if len(files) < 2:
                raise LogRequestError(
                    400, f'previous terminated container "{container}" in pod "{pod}" not found'
                )
            return files[-2], lambda: False
        if not files:
            raise LogRequestError(
                400, f'container "{container}" in pod "{pod}" is waiting to start'
            )
        current = files[-1]

        def active() -> bool:
            runner = worker.runners.get(container)
            newest = run_logs(worker.log_dir, container)
            running = (
                runner is not None and runner.proc is not None and (runner.proc.returncode is None)
            )
            return running and bool(newest) and newest[-1] == current

        return current, active


def _read_new(path: Path, offset: int) -> tuple[bytes, int]:
    """Bytes appended since `offset` (from 0 again if the file was rotated); new offset."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        if size < offset:
            offset = 0
        f.seek(offset)
        return f.read(size - offset), size


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


def _initial(path: Path, opts: LogOptions) -> tuple[bytes, int]:
    """What is in the file now, selected; and the offset up to which it was read."""
    if opts.tail_lines is not None:
        data, size = read_tail(path, opts.tail_lines)
    else:
        data = path.read_bytes()
        size = len(data)
    data, rest = complete_lines(data)
    records = select_tail(parse_records(data), opts.tail_lines)
    return render(records, opts), size - len(rest)


async def _send(resp: web.StreamResponse, chunk: bytes, budget: list[int | None]) -> bool:
    """Writes within the limitBytes budget; False once it is used up."""
    out = b"".join(limited([chunk], budget[0]))
    if out:
        await resp.write(out)
    if budget[0] is not None:
        budget[0] -= len(out)
        return budget[0] > 0
    return True


async def _follow(
    resp: web.StreamResponse,
    path: Path,
    offset: int,
    opts: LogOptions,
    active: Callable[[], bool],
    budget: list[int | None],
) -> None:
    pending = b""
    last_looks = 2  # after the container ended, look twice more for its last lines
    while True:
        try:
            data, offset = _read_new(path, offset)
        except FileNotFoundError:
            return
        if data:
            lines, pending = complete_lines(pending + data)
            if lines and not await _send(resp, render(parse_records(lines), opts), budget):
                return
            continue
        if not active():
            if last_looks == 0:
                return
            last_looks -= 1
        await asyncio.sleep(FOLLOW_POLL)
