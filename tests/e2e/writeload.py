"""A write-load client for the e2e scenarios, run inside the cluster network:

    hack/in-cluster .venv/bin/python -m tests.e2e.writeload \\
        --endpoints https://NAME-client.NS.svc:2379 [--cacert F --cert F --key F] \\
        --journal FILE (--duration SECONDS | --until-signal)

One operation at a time, round the keys: a put of the key's next seq, then a linearizable get
of it, each logged to the journal (the format: tests/e2e/consistency.py) and flushed before
the next operation, so the journal's order is real-time order and a SIGKILL loses no
acknowledged write. Errors are expected while members come and go: they are logged and the
work goes on; a write without an answer is never logged as acknowledged. SIGTERM stops it
after the operation in flight.

Tests use `WriteLoad`, which runs this through hack/in-cluster:

    async with WriteLoad(env, namespace, name, certs) as load:
        ...  # the scenario
    journal = load.journal()
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import urlsplit

import grpc
import grpc.aio
from etcd3aio.kv import KVService

from tests.e2e.consistency import ACK, FAIL, GET, GET_FAIL, PUT, START, Entry, read_journal
from tests.e2e.operator import IN_CLUSTER, ROOT, eventually

KEYS = 5
OP_TIMEOUT = 3.0  # a loaded machine answers in well under this; longer means no quorum
RECONNECT_AFTER = 5.0  # seconds without a success: a new channel resolves the Service anew
MAX_OPS_PER_SECOND = 100.0  # a load, not a benchmark: the machine is shared with the cluster
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    # The Service's name resolves to the ready members' IPs, which change as pods come back.
    ("grpc.lb_policy_name", "round_robin"),
    ("grpc.dns_min_time_between_resolutions_ms", 500),
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
Tls = tuple[bytes, bytes | None, bytes | None]  # CA, client certificate, its key (PEM)


class JournalWriter:
    """Appends JSON lines, each flushed before the call returns (a SIGKILL keeps them)."""

    def __init__(self, out: IO[str]):
        self.out = out

    def write(self, op: str, **fields: Any) -> None:
        self.out.write(json.dumps({"op": op, **fields, "t": round(time.time(), 3)}) + "\n")
        self.out.flush()


def open_channel(target: str, tls: Tls | None) -> grpc.aio.Channel:
    if tls is None:
        return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
    ca, cert, key = tls
    credentials = grpc.ssl_channel_credentials(ca, key, cert)
    return grpc.aio.secure_channel(target, credentials, options=CHANNEL_OPTIONS)


def describe(exc: BaseException) -> str:
    cause = exc.__cause__
    if isinstance(cause, grpc.aio.AioRpcError):
        return f"{cause.code().name} {cause.details()}"
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name} {exc.details()}"
    return f"{type(exc).__name__} {exc}"


async def run(
    target: str,
    tls: Tls | None,
    journal: JournalWriter,
    prefix: str,
    stop: asyncio.Event,
) -> None:
    keys = [f"{prefix}k{i}" for i in range(KEYS)]
    seqs = dict.fromkeys(keys, 0)
    journal.write(START, prefix=prefix, endpoint=target)
    channel = open_channel(target, tls)
    kv = KVService(channel, max_attempts=1)  # a retried put would blur what was acknowledged
    last_success = opened = time.monotonic()
    step = 0
    while not stop.is_set():
        started = time.monotonic()
        key = keys[step % KEYS]
        step += 1
        seqs[key] += 1
        ok = True
        journal.write(PUT, key=key, seq=seqs[key])
        try:
            put = await kv.put(key, str(seqs[key]), timeout=OP_TIMEOUT)
            journal.write(ACK, key=key, seq=seqs[key], rev=put.header.revision)
        except Exception as exc:  # any failure leaves the outcome unknown: not acknowledged
            journal.write(FAIL, key=key, seq=seqs[key], error=describe(exc))
            ok = False
        try:
            got = await kv.get(key, timeout=OP_TIMEOUT)
            found = got.kvs[0] if got.kvs else None
            seq = int(found.value) if found else None
            mod_rev = found.mod_revision if found else 0
            journal.write(GET, key=key, seq=seq, rev=got.header.revision, mod_rev=mod_rev)
        except Exception as exc:
            journal.write(GET_FAIL, key=key, error=describe(exc))
            ok = False
        now = time.monotonic()
        if ok:
            last_success = now
        elif now - max(last_success, opened) > RECONNECT_AFTER:
            # gRPC backs off resolving a name that had no address (every pod gone) for up
            # to minutes: a fresh channel asks DNS now.
            await channel.close()
            channel, opened = open_channel(target, tls), now
            kv = KVService(channel, max_attempts=1)
        # Pace: at most MAX_OPS_PER_SECOND, and failing calls (often at once) no faster.
        pause = max(1 / MAX_OPS_PER_SECOND - (now - started), 0.0 if ok else 0.2)
        try:
            await asyncio.wait_for(stop.wait(), pause)
        except TimeoutError:
            pass
    await channel.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tests.e2e.writeload", description=__doc__)
    parser.add_argument("--endpoints", required=True, help="http(s)://HOST:PORT of the Service")
    parser.add_argument("--cacert", type=Path)
    parser.add_argument("--cert", type=Path)
    parser.add_argument("--key", type=Path)
    parser.add_argument("--journal", type=Path, required=True)
    parser.add_argument("--prefix", default=f"writeload/{uuid.uuid4().hex[:8]}/")
    until = parser.add_mutually_exclusive_group(required=True)
    until.add_argument("--duration", type=float, help="seconds")
    until.add_argument("--until-signal", action="store_true", help="until SIGTERM or SIGINT")
    args = parser.parse_args(argv)
    url = urlsplit(args.endpoints)
    target = f"{url.hostname}:{url.port or 2379}"
    tls = None
    if url.scheme == "https":
        if args.cacert is None:
            parser.error("https needs --cacert")
        tls = (args.cacert.read_bytes(), _read(args.cert), _read(args.key))

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if args.duration is not None:
            loop.call_later(args.duration, stop.set)
        with args.journal.open("a") as out:
            await run(target, tls, JournalWriter(out), args.prefix, stop)

    asyncio.run(go())
    return 0


def _read(path: Path | None) -> bytes | None:
    return path.read_bytes() if path else None


class WriteLoad:
    """The load client against cluster `name`'s client Service, in the cluster network."""

    def __init__(
        self, env: dict[str, str], namespace: str, name: str, certs: Path | None = None
    ) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f"writeload-{name}-")) / "journal.jsonl"
        scheme = "https" if certs else "http"
        self.argv = [
            IN_CLUSTER,
            ".venv/bin/python",
            "-m",
            "tests.e2e.writeload",
            f"--endpoints={scheme}://{name}-client.{namespace}.svc:2379",
            f"--journal={self.path}",
            "--until-signal",
        ]
        if certs:
            self.argv += [
                f"--cacert={certs}/etcd-client-ca.crt",
                f"--cert={certs}/etcd-client.crt",
                f"--key={certs}/etcd-client.key",
            ]
        self.env = {**os.environ, **env, "IN_CLUSTER_NAMESPACE": namespace}
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> WriteLoad:
        log = self.path.with_name("writeload.log").open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=log
        )
        log.close()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop(check=exc is None)  # a failing scenario's error says more

    async def stop(self, check: bool = True) -> None:
        """SIGTERM, and waits for the client to finish its operation in flight."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 2 * OP_TIMEOUT + 30)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        log = self.path.with_name("writeload.log").read_text(errors="replace")
        ok = not check or self.proc.returncode == 0
        assert ok, f"writeload exited {self.proc.returncode}: {log}"

    def journal(self) -> list[Entry]:
        return read_journal(self.path)

    def acknowledged(self) -> int:
        return sum(1 for e in self.journal() if e.op == ACK)

    async def acknowledges(self, more: int = 20, what: str = "writes acknowledged") -> int:
        """Waits for `more` acknowledged writes after now (the load is getting through)."""
        assert self.proc is not None and self.proc.returncode is None, "the load is not running"
        target = self.acknowledged() + more

        async def enough() -> int | None:
            if self.proc is not None and self.proc.returncode is not None:
                raise AssertionError(f"writeload exited {self.proc.returncode}")
            done = await asyncio.to_thread(self.acknowledged)
            return done if done >= target else None

        return int(await eventually(enough, f"{more} {what} ({self.path})"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
