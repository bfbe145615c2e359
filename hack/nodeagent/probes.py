"""Container probes: the four probe kinds and the kubelet's threshold rules.

`ProbeTracker` is the pure part (consecutive results against success/failure thresholds);
`run_probe` performs one check. exec probes run inside the container's mount, network and UTS
namespaces via nsenter; network probes go from the host to the pod IP over the bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import ssl
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

USER_AGENT = "kube-probe/1.36"
GRPC_SERVING = 1


@dataclass(frozen=True)
class ProbeSpec:
    kind: str  # exec | httpGet | tcpSocket | grpc
    handler: Mapping[str, Any]
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3
    termination_grace: int | None = None


def parse_probe(probe: Mapping[str, Any] | None) -> ProbeSpec | None:
    if not probe:
        return None
    for kind in ("exec", "httpGet", "tcpSocket", "grpc"):
        if probe.get(kind) is not None:
            return ProbeSpec(
                kind=kind,
                handler=probe[kind],
                initial_delay=float(probe.get("initialDelaySeconds") or 0),
                period=float(probe.get("periodSeconds") or 10),
                timeout=float(probe.get("timeoutSeconds") or 1),
                success_threshold=int(probe.get("successThreshold") or 1),
                failure_threshold=int(probe.get("failureThreshold") or 3),
                termination_grace=probe.get("terminationGracePeriodSeconds"),
            )
    return None


@dataclass
class ProbeTracker:
    """Holds a probe's current result; it flips only after enough consecutive results."""

    success_threshold: int
    failure_threshold: int
    result: bool
    _last: bool | None = field(default=None, repr=False)
    _run: int = field(default=0, repr=False)

    def record(self, ok: bool) -> bool:
        """Adds one outcome; returns True when `result` changed."""
        self._run = self._run + 1 if ok == self._last else 1
        self._last = ok
        needed = self.success_threshold if ok else self.failure_threshold
        if ok != self.result and self._run >= needed:
            self.result = ok
            return True
        return False


@dataclass(frozen=True)
class ProbeTarget:
    """Where a probe goes: the container's process (exec) and the pod's address/ports."""

    pid: int
    pod_ip: str
    ports: Mapping[str, int]  # named container ports
    env: Mapping[str, str]
    exec_argv: Sequence[str] = ()  # resolved: [program, argv0, args...]
    cwd: str = "/"


def resolve_port(port: Any, named: Mapping[str, int]) -> int:
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    if port in named:
        return named[port]
    raise ValueError(f"port {port!r} is not a named port of the container")


async def run_probe(spec: ProbeSpec, target: ProbeTarget) -> tuple[bool, str]:
    """(success, message on failure)."""
    try:
        if spec.kind == "exec":
            return await _exec_probe(spec, target)
        if spec.kind == "httpGet":
            return await asyncio.wait_for(_http_probe(spec.handler, target), spec.timeout)
        if spec.kind == "tcpSocket":
            return await asyncio.wait_for(_tcp_probe(spec.handler, target), spec.timeout)
        return await asyncio.wait_for(_grpc_probe(spec.handler, target), spec.timeout)
    except TimeoutError:
        return False, f"{spec.kind} probe timed out after {spec.timeout:g}s"
    except (OSError, ValueError, ssl.SSLError) as exc:
        return False, f"{spec.kind} probe failed: {exc}"


async def _exec_probe(spec: ProbeSpec, target: ProbeTarget) -> tuple[bool, str]:
    program, *argv = target.exec_argv
    cmd = [
        "nsenter",
        "-t",
        str(target.pid),
        "-m",
        "-n",
        "-u",
        f"--wd={target.cwd}",
        "--",
        program,
        *argv[1:],
    ]
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        env=dict(target.env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), spec.timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        return False, f"command timed out after {spec.timeout:g}s"
    if proc.returncode == 0:
        return True, ""
    text = out.decode(errors="replace")[-1024:].strip()
    return False, f"command failed with exit code {proc.returncode}: {text}"


async def _http_probe(h: Mapping[str, Any], target: ProbeTarget) -> tuple[bool, str]:
    host = h.get("host") or target.pod_ip
    port = resolve_port(h.get("port"), target.ports)
    path = h.get("path") or "/"
    if not path.startswith("/"):
        path = "/" + path
    ctx = None
    if str(h.get("scheme", "HTTP")).upper() == "HTTPS":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
    try:
        headers = {"Host": f"{host}:{port}", "User-Agent": USER_AGENT, "Accept": "*/*"}
        for item in h.get("httpHeaders") or []:
            headers[item["name"]] = item["value"]
        headers["Connection"] = "close"
        request = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write((request + "\r\n").encode())
        await writer.drain()
        status_line = (await reader.readline()).decode(errors="replace").split()
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    code = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 0
    if 200 <= code < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {code}"


async def _tcp_probe(h: Mapping[str, Any], target: ProbeTarget) -> tuple[bool, str]:
    port = resolve_port(h.get("port"), target.ports)
    _, writer = await asyncio.open_connection(h.get("host") or target.pod_ip, port)
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True, ""


def _health_request(service: str) -> bytes:
    """grpc.health.v1.HealthCheckRequest{service} in protobuf wire format."""
    raw = service.encode()
    return b"\x0a" + _varint(len(raw)) + raw if raw else b""


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _health_status(payload: bytes) -> int:
    """HealthCheckResponse.status (field 1, varint); 0 (UNKNOWN) when absent."""
    i = 0
    while i < len(payload):
        key = payload[i]
        i += 1
        if key == 0x08:
            value = shift = 0
            while True:
                b = payload[i]
                i += 1
                value |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    return value
        if key & 7 == 2:  # skip an unknown length-delimited field
            (length,) = struct.unpack("B", payload[i : i + 1])
            i += 1 + length
        else:
            return 0
    return 0


async def _grpc_probe(h: Mapping[str, Any], target: ProbeTarget) -> tuple[bool, str]:
    import grpc  # only the grpc probe needs it

    port = resolve_port(h.get("port"), target.ports)
    async with grpc.aio.insecure_channel(f"{target.pod_ip}:{port}") as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        try:
            payload = await check(_health_request(h.get("service") or ""))
        except grpc.aio.AioRpcError as exc:
            return False, f"grpc probe failed: {exc.code().name} {exc.details()}"
    status = _health_status(payload)
    if status == GRPC_SERVING:
        return True, ""
    return False, f"service unhealthy (responded with status {status})"
