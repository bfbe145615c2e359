"""`kubectl exec` on the kubelet endpoint, over WebSockets (no SPDY).

Since Kubernetes 1.36 the API server proxies exec WebSockets straight to kubelets whose Node
declares the `ExtendWebSocketsToKubelet` feature (the Nodes here do), so this serves
`GET /exec/{namespace}/{pod}/{container}?command=...&input=1&output=1&error=1&tty=1` with the
`v5.channel.k8s.io` / `v4.channel.k8s.io` subprotocols: each binary message starts with its
channel (0 stdin, 1 stdout, 2 stderr, 3 status, 4 terminal resize; v5: 255 closes a channel).
The command runs inside the container's mount, network and UTS namespaces (nsenter) with its
environment; with a TTY it gets a pseudo-terminal as its controlling terminal. The last message
on channel 3 is the Status a kubelet sends (exit code in `details.causes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import struct
import termios
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from nodeagent.command import CommandError

if TYPE_CHECKING:
    from nodeagent.node import Node

log = logging.getLogger(__name__)
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def exit_status(code: int, command: list[str]) -> dict[str, Any]:
    """The Status a kubelet writes on the status channel when the command ended."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command "
        f"{command}, exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def error_status(message: str) -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure", "message": message}


def winsize(payload: bytes) -> bytes:
    """A resize message ({"Width": w, "Height": h}) → struct winsize for TIOCSWINSZ."""
    size = json.loads(payload)
    return struct.pack("HHHH", int(size.get("Height", 0)), int(size.get("Width", 0)), 0, 0)


async def handle_exec(node: Node, request: web.Request) -> web.StreamResponse:
    ns, pod, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
    query = request.query
    command = query.getall("command", [])
    worker = node.find_pod(ns, pod)
    runner = worker.runners.get(container) if worker else None
    if runner is None or runner.proc is None or runner.proc.returncode is not None:
        return web.Response(
            status=404, text=f'container "{container}" of pod "{pod}" is not running on this node'
        )
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return web.Response(
            status=400,
            text="exec needs a WebSocket upgrade (SPDY is not supported by the node agent)",
        )
    assert runner.plan is not None
    try:
        argv = runner.plan.resolve_exec(command)
    except CommandError as exc:
        argv, failure = [], str(exc)
    else:
        failure = ""
    ws = web.WebSocketResponse(protocols=PROTOCOLS, autoping=True)
    await ws.prepare(request)
    tty = query.get("tty") == "1"
    if failure:
        await _finish(ws, error_status(failure))
        return ws
    session = ExecSession(
        ws,
        runner.proc.pid,
        argv,
        dict(runner.plan.env),
        runner.plan.cwd,
        tty,
        stdin=query.get("input") == "1",
    )
    code = await session.run()
    await _finish(ws, exit_status(code, command))
    return ws


async def _finish(ws: web.WebSocketResponse, status: dict[str, Any]) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.send_bytes(bytes([STATUS]) + json.dumps(status).encode())
        await ws.close()


class ExecSession:
    """One command inside a container, wired to a WebSocket."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        pid: int,
        argv: list[str],
        env: dict[str, str],
        cwd: str,
        tty: bool,
        stdin: bool,
    ):
        self.ws, self.tty, self.want_stdin = ws, tty, stdin
        program, *args = argv
        self.cmd = [
            "nsenter",
            "-t",
            str(pid),
            "-m",
            "-n",
            "-u",
            f"--wd={cwd}",
            "--",
            program,
            *args[1:],
        ]
        if tty:
            self.cmd = ["setsid", "-c", *self.cmd]  # the pty becomes its controlling terminal
            env.setdefault("TERM", "xterm")
        self.env = env
        self.proc: asyncio.subprocess.Process | None = None
        self._master: int | None = None
        self._pumps: list[asyncio.Task[None]] = []

    async def run(self) -> int:
        if self.tty:
            await self._start_tty()
        else:
            await self._start_pipes()
        assert self.proc is not None
        reader = asyncio.create_task(self._from_client())
        try:
            code = await self.proc.wait()
            await asyncio.gather(*self._pumps, return_exceptions=True)
        finally:
            reader.cancel()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            if self._master is not None:
                os.close(self._master)
        return code if code >= 0 else 128 - code

    async def _start_pipes(self) -> None:
        pipe = asyncio.subprocess.PIPE
        self.proc = await asyncio.create_subprocess_exec(
            *self.cmd,
            env=self.env,
            start_new_session=True,
            stdin=pipe if self.want_stdin else asyncio.subprocess.DEVNULL,
            stdout=pipe,
            stderr=pipe,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._pumps = [
            asyncio.create_task(self._to_client(self.proc.stdout.read, STDOUT)),
            asyncio.create_task(self._to_client(self.proc.stderr.read, STDERR)),
        ]

    async def _start_tty(self) -> None:
        master, slave = os.openpty()
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.cmd,
                env=self.env,
                stdin=slave,
                stdout=slave,
                stderr=slave,
            )
        finally:
            os.close(slave)
        self._master = master
        os.set_blocking(master, False)
        loop = asyncio.get_running_loop()

        async def read(n: int) -> bytes:
            while True:
                try:
                    return os.read(master, n)
                except BlockingIOError:
                    ready = loop.create_future()
                    loop.add_reader(master, ready.set_result, None)
                    try:
                        await ready
                    finally:
                        loop.remove_reader(master)
                except OSError:  # EIO: the terminal's other side closed
                    return b""

        self._pumps = [asyncio.create_task(self._to_client(read, STDOUT))]

    async def _to_client(self, read: Callable[[int], Any], channel: int) -> None:
        while True:
            data = await read(65536)
            if not data:
                return
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_bytes(bytes([channel]) + data)

    async def _from_client(self) -> None:
        async for msg in self.ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            channel, payload = msg.data[0], msg.data[1:]
            if channel == STDIN:
                await self._write_stdin(payload)
            elif channel == RESIZE and self._master is not None:
                with contextlib.suppress(OSError, ValueError):
                    fcntl.ioctl(self._master, termios.TIOCSWINSZ, winsize(payload))
            elif channel == CLOSE and payload[:1] == bytes([STDIN]):
                self._close_stdin()
        # The client went away: the command goes too.
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    async def _write_stdin(self, data: bytes) -> None:
        if self._master is not None:
            os.write(self._master, data)
        elif self.proc is not None and self.proc.stdin is not None:
            with contextlib.suppress(ConnectionError):
                self.proc.stdin.write(data)
                await self.proc.stdin.drain()

    def _close_stdin(self) -> None:
        if self._master is not None:
            os.write(self._master, b"\x04")  # ^D: end of input on a terminal
        elif self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
