"""One backup by the operator's own code, in a process of its own (bench/backup_bench.py).

    python bench/backup_child.py --endpoint 127.0.0.1:PORT --bucket B --key K

`take_backup` of controller/etcdbackup/task.py with a one-shot BackupJob — choose the source,
stream the snapshot through its SHA-256 check into a multipart upload, complete it, check the
stored size — as the backup controller's supervised task runs it. The S3 settings are the
AWS SDKs' variables of .local/env (the operator reads the same values from its `aws` Secret).

Its RSS is its own, so the bench can tell what the backup costs:
 1. imports (what the operator has loaded anyway): `rss_cold`;
 2. warms up like an operator that already talked to S3 once: one S3 client opened and
    closed (botocore loads S3's service model into the process's shared session, about
    10 MiB, once per process), then gc: `rss_warm`;
 3. resets the kernel's peak-RSS mark (`echo 5 > /proc/self/clear_refs`: VmHWM := VmRSS),
    prints `{"ready": ...}` and waits for a line on stdin (the parent samples its baseline);
 4. runs the backup and prints `{"result": ...}`: the outcome, wall time, VmHWM (the peak
    since 3) and VmRSS after. Exit 0 on BackupTaken, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from controller.clients.etcd import Endpoint
from controller.clients.etcdsnapshot import choose_source, open_snapshot
from controller.clients.s3 import MultipartUpload, S3Client, S3Settings
from controller.etcdbackup import task
from controller.etcdbackup.outcome import BackupTaken
from controller.etcdbackup.task import BackupJob, take_backup

T = TypeVar("T")
PHASES: dict[str, float] = {}  # seconds spent in a few of the backup's calls (timed())


def timed(name: str, call: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """`call`, unchanged but for the time it takes being added to PHASES[name]."""

    async def wrapper(*args: Any, **kwargs: Any) -> T:
        started = time.monotonic()
        try:
            return await call(*args, **kwargs)
        finally:
            PHASES[name] = PHASES.get(name, 0.0) + time.monotonic() - started

    return wrapper


# Where the time goes, without changing what runs: the source's choice (a Status per
# endpoint) and the completion of the upload (the S3 server assembles the object).
task.choose_source = timed("choose_source", choose_source)  # type: ignore[assignment]
MultipartUpload.complete = timed("complete_upload", MultipartUpload.complete)  # type: ignore[method-assign, assignment]


def status_kib(field: str) -> int:
    """A `Vm…` line of /proc/self/status, in KiB."""
    text = Path("/proc/self/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(found.group(1)) if found else 0


def cpu_since(then: os.times_result) -> float:
    """This process's CPU seconds (user + system, every thread) since `then`."""
    now = os.times()
    return now.user + now.system - then.user - then.system


def reset_peak() -> None:
    """VmHWM := VmRSS (Linux ≥ 4.0): from here, VmHWM is the peak of what follows."""
    Path("/proc/self/clear_refs").write_text("5")


def emit(**fields: Any) -> None:
    print(json.dumps(fields, default=str), flush=True)


def settings_from_env() -> S3Settings:
    return S3Settings(
        access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region=os.environ.get("AWS_REGION") or "us-east-1",
        endpoint=os.environ["AWS_ENDPOINT_URL_S3"],
        force_path_style=True,
    )


async def warm_up(settings: S3Settings, bucket: str) -> None:
    async with S3Client(settings) as s3:
        await s3.head(bucket, "bench-warm-up")  # absent: a 404, but a real round trip


async def stream_only(job: BackupJob) -> int:
    """The backup's source and snapshot stream (SHA-256 checked), every byte dropped."""
    source = await choose_source(job.endpoints, job.tls)
    async with open_snapshot(source.endpoint, job.tls) as stream:
        async for _chunk in stream:
            pass
    if not stream.verified:
        raise RuntimeError("the snapshot did not verify")
    return stream.size


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="etcd client address, ip:port")
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument(
        "--stream-only",
        action="store_true",
        help="only read the snapshot stream through its check (no S3): where the time goes",
    )
    args = parser.parse_args()
    settings = settings_from_env()
    job = BackupJob(
        endpoints=(Endpoint(args.endpoint),),
        s3=settings,
        bucket=args.bucket,
        key=args.key,
        periodic=False,
        max_backups=0,
        timeout=args.timeout,
    )
    gc.collect()
    rss_cold = status_kib("VmRSS")
    await warm_up(settings, args.bucket)
    gc.collect()
    rss_warm = status_kib("VmRSS")
    reset_peak()
    emit(ready=os.getpid(), rss_cold_kib=rss_cold, rss_warm_kib=rss_warm)
    await asyncio.to_thread(sys.stdin.readline)
    rss_start = status_kib("VmRSS")
    started, cpu = time.monotonic(), os.times()
    if args.stream_only:
        size = await stream_only(job)
        wall = time.monotonic() - started
        emit(
            result={"size": size},
            kind="StreamOnly",
            wall_s=wall,
            cpu_s=cpu_since(cpu),
            rss_start_kib=rss_start,
            hwm_kib=status_kib("VmHWM"),
            rss_after_kib=status_kib("VmRSS"),
        )
        return 0
    outcome = await take_backup(job)
    wall = time.monotonic() - started
    emit(
        result=dataclasses.asdict(outcome),
        kind=type(outcome).__name__,
        wall_s=wall,
        cpu_s=cpu_since(cpu),
        phases=PHASES,
        rss_start_kib=rss_start,
        hwm_kib=status_kib("VmHWM"),
        rss_after_kib=status_kib("VmRSS"),
    )
    return 0 if isinstance(outcome, BackupTaken) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
