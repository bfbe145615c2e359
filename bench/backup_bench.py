"""Benchmark (not a test): backup and restore of a ≥ 1 GiB etcd database, the operator's data
path against etcd's own tools in the same run (issue 10). No Kubernetes: a bench of the bytes.

 1. starts one etcd 3.6 (.local/bin/etcd-3.6/) on loopback, with --quota-backend-bytes big
    enough, and fills it to --size-mib of database (Status' dbSize) with puts of
    --value-kib random bytes, --puts-in-flight at a time over one gRPC channel (prints how
    long the fill took);
 2. makes an S3 bucket of its own on the local environment's S3 server (versitygw; the AWS
    SDKs' variables of .local/env);
 3. per round (--rounds; the backups swap order from one round to the next):
    - **backup, etcd's tool**: `etcdctl snapshot save` to local disk: wall time, throughput,
      its peak RSS;
    - **backup, the operator's**: controller/etcdbackup/task.py's `take_backup` (choose the
      source, stream the snapshot through its SHA-256 check into a multipart upload) in a
      process of its own, bench/backup_child.py: wall time, throughput, and peak RSS growth
      over that process's baseline just before the backup — VmHWM after resetting it
      (/proc/PID/clear_refs) and VmRSS sampled from here every 10 ms. The baseline is taken
      after an S3 client was opened once (botocore's S3 model, loaded once per process, is
      then in it, as in an operator that ran a backup before); growth over the cold
      baseline (imports only) is shown too, and the time spent choosing the source and
      completing the upload (the S3 server assembling the object);
    - **the snapshot stream alone**: the same process and code up to the stream
      (choose_source, open_snapshot with its SHA-256 check), every byte dropped: what the
      Python gRPC stream costs without S3, to tell where the time goes;
    - **restore, the seed pod's path**: `python -m controller.etcdrestore.fetch` (AWS shared
      files written to a directory, no AWS_* variables in its environment) then `etcdutl
      snapshot restore FILE --data-dir …` with the flags the seed pod uses; the fetch's peak
      RSS (its VmHWM sampled every 10 ms; and that of a bare `import` of it, its floor);
    - **restore, etcd's tool alone**: `etcdutl snapshot restore` of a local copy of the
      same snapshot (the fetched file, byte for byte the S3 object);
 4. prints a table per round with the ratios and the goals: operator throughput at least
    0.8 times etcdctl's, operator RSS growth ≤ 64 MiB; how many cores each backup kept busy
    (CPU seconds of every process involved over the wall time: near the core count, it is
    CPU-bound), and the throughput ratio the CPU would allow with the S3 server on other
    cores (the wall time bounded by the backup process's CPU and by its and etcd's CPU over
    the cores);
 5. removes everything even on failure or SIGTERM: etcd stopped, the bucket's objects and
    uploads and the bucket deleted, the one temporary directory removed.

Run with `make bench-backup` (BENCH_ARGS="--size-mib 64" for a quick proof). Needs about 8 times
the database size of free disk (etcd's data dir holds the database and as much WAL, then two
snapshots, the S3 copy, the fetched file and two restored data dirs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import grpc.aio
from etcd3aio.kv import KVService
from etcd3aio.maintenance import MaintenanceService

from controller.clients.s3 import S3Client, S3Error, S3Settings

ROOT = Path(__file__).resolve().parents[1]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
CHILD = ROOT / "bench" / "backup_child.py"
ETCD_BIN = ROOT / ".local" / "bin" / "etcd-3.6"
S3_DATA = ROOT / ".local" / "s3"
HOST = "127.0.0.1"
MIB = 1024 * 1024
GIB = 1024 * MIB
RSS_GOAL_MIB = 64.0
THROUGHPUT_GOAL = 0.8
SAMPLE_INTERVAL = 0.01
CLK_TCK = os.sysconf("SC_CLK_TCK")
VERSITYGW = ROOT / ".local" / "bin" / "versitygw"
# Children die with the bench (SIGKILL when it dies, whatever killed it).
DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "KILL", "--"]
# The restore's flags as the seed pod passes them (controller/etcdcluster/resources.py).
MEMBER = "bench-0"
PEER_URL = "http://127.0.0.1:2380"
RESTORE_FLAGS = [
    f"--name={MEMBER}",
    f"--initial-cluster={MEMBER}={PEER_URL}",
    "--initial-cluster-token=bench-backup",
    f"--initial-advertise-peer-urls={PEER_URL}",
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def mib(n: float) -> float:
    return n / MIB


# --- the environment ------------------------------------------------------------------------


def load_local_env() -> None:
    """The S3 server's AWS_* variables from .local/env, when not run through `make`."""
    if os.environ.get("AWS_ENDPOINT_URL_S3"):
        return
    env_file = ROOT / ".local" / "env"
    if not env_file.exists():
        raise SystemExit("the local environment is not up: run `make cluster-up`")
    out = subprocess.run(
        ["bash", "-c", f"set -a; source {env_file}; env -0"], capture_output=True, check=True
    ).stdout
    for item in out.decode().split("\0"):
        name, sep, value = item.partition("=")
        if sep and name.startswith("AWS_"):
            os.environ[name] = value
    if not os.environ.get("AWS_ENDPOINT_URL_S3"):
        raise SystemExit("the local S3 server is not set up: run `make cluster-up`")


def s3_settings() -> S3Settings:
    return S3Settings(
        access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region=os.environ.get("AWS_REGION") or "us-east-1",
        endpoint=os.environ["AWS_ENDPOINT_URL_S3"],
        force_path_style=True,
    )


def check_disk(workdir: Path, size: int) -> None:
    """Enough room for the run: etcd's data dir holds the database and about as much WAL,
    then two snapshots, the S3 copy, the fetched file and two restored data dirs."""
    need = 8 * size + GIB
    for where in {workdir, S3_DATA if S3_DATA.exists() else ROOT}:
        free = shutil.disk_usage(where).free
        log(f"free disk at {where}: {free / GIB:.1f} GiB (this run needs about {need / GIB:.1f})")
        if free < need:
            raise SystemExit(f"not enough free disk at {where}: {free / GIB:.1f} GiB")


MEASURED_CODE = ("controller/clients", "controller/etcdbackup", "controller/etcdrestore")


def git_head() -> str:
    """HEAD, and whether the measured code differs from it in the working tree."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", *MEASURED_CODE], capture_output=True, text=True
    )
    changed = "with local changes" if dirty.stdout.strip() else "unchanged from HEAD"
    return f"{head.stdout.strip() or 'unknown'} ({', '.join(MEASURED_CODE)} {changed})"


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# --- measured processes ---------------------------------------------------------------------


def status_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a running process, in KiB ({} once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return {m[0]: int(m[1]) for m in re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", text, re.M)}


class RssSampler:
    """VmRSS of one process every SAMPLE_INTERVAL, from outside, on a thread of its own."""

    def __init__(self, pid: int):
        self.pid = pid
        self.samples: list[tuple[float, int]] = []  # (monotonic time, VmRSS KiB)
        self.last_hwm = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            status = status_kib(self.pid)
            if "VmRSS" in status:
                self.samples.append((time.monotonic(), status["VmRSS"]))
                self.last_hwm = status.get("VmHWM", self.last_hwm)
            self._stop.wait(SAMPLE_INTERVAL)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def peak_since(self, since: float) -> int:
        return max((rss for t, rss in self.samples if t >= since), default=0)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a running process, every thread (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def versitygw_pid() -> int | None:
    """The local S3 server's process (its CPU is part of what a backup costs here)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if Path(os.readlink(entry / "exe")) == VERSITYGW.resolve():
                    return int(entry.name)
    return None


class CpuWatch:
    """CPU seconds the long-running processes (etcd, the S3 server) spend in a window."""

    def __init__(self, pids: dict[str, int | None]):
        self.pids = {name: pid for name, pid in pids.items() if pid}
        self.start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def spent(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) - self.start[name] for name, pid in self.pids.items()}


@dataclass
class Finished:
    argv: list[str]
    code: int
    wall: float  # from spawn to exit
    # The last VmHWM seen (the peak RSS of the program exec'd, at most 10 ms before it
    # exited). Not wait4's ru_maxrss: Linux folds into it the RSS of the process image exec
    # replaced, here a fork of this ~100 MiB Python process.
    hwm_kib: int
    cpu_s: float  # utime + stime (wait4)
    stdout: str
    stderr: str

    def check(self) -> Finished:
        if self.code != 0:
            raise RuntimeError(
                f"{' '.join(self.argv)}: exit {self.code}\n{self.stdout[-2000:]}"
                f"{self.stderr[-4000:]}"
            )
        return self


CHILDREN: list[subprocess.Popen[str]] = []  # killed by the clean-up if still running


def spawn(
    argv: Sequence[str], env: dict[str, str] | None = None, stdin: int | None = None
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [*DIE_WITH_PARENT, *argv],
        env=env,
        cwd=ROOT,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    CHILDREN.append(proc)
    return proc


def kill_children() -> None:
    for proc in CHILDREN:
        if proc.returncode is None and proc.poll() is None:
            proc.kill()
            proc.wait(30)


def drain(stream: IO[str] | None, into: list[str]) -> threading.Thread:
    """Reads a pipe to its end on a thread (a full pipe would stall the child)."""

    def run() -> None:
        if stream is not None:
            into.append(stream.read())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def run_measured(argv: Sequence[str], env: dict[str, str] | None = None) -> Finished:
    """Runs a command to its end: wall time and peak RSS (VmHWM, sampled)."""
    started = time.monotonic()
    proc = spawn(argv, env)
    sampler = RssSampler(proc.pid)
    out: list[str] = []
    err: list[str] = []
    readers = [drain(proc.stdout, out), drain(proc.stderr, err)]
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    sampler.stop()
    for reader in readers:
        reader.join()
    cpu = usage.ru_utime + usage.ru_stime
    return Finished(list(argv), code, wall, sampler.last_hwm, cpu, "".join(out), "".join(err))


# --- etcd -----------------------------------------------------------------------------------


@dataclass
class Etcd:
    workdir: Path
    quota: int
    client_port: int = field(default_factory=free_port)
    peer_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.client_port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self) -> None:
        peer = f"http://{HOST}:{self.peer_port}"
        args = [
            str(ETCD_BIN / "etcd"),
            "--name=bench",
            f"--data-dir={self.workdir / 'etcd-data'}",
            f"--listen-client-urls={self.url}",
            f"--advertise-client-urls={self.url}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=bench={peer}",
            f"--quota-backend-bytes={self.quota}",
            # Raft keeps the entries since its last snapshot in memory: with 1 MiB puts, the
            # whole database twice over. Snapshot often and keep few entries for catch-up.
            "--snapshot-count=200",
            "--snapshot-catchup-entries=100",
            # The fill's speed is not under test; the snapshot reads the database either way.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]
        log_file = (self.workdir / "etcd.log").open("ab")
        self.proc = subprocess.Popen(
            [*DIE_WITH_PARENT, *args], stdout=log_file, stderr=subprocess.STDOUT
        )
        log_file.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def log_tail(self) -> str:
        path = self.workdir / "etcd.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def channel(address: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(address, options=[("grpc.max_send_message_length", 16 * MIB)])


async def etcd_status(address: str, timeout: float = 30.0) -> Any:
    """Maintenance.Status (the member's version, revision in its header, dbSize), waiting
    for the member to answer."""
    deadline = time.monotonic() + timeout
    async with channel(address) as ch:
        maintenance = MaintenanceService(ch, max_attempts=1)
        while True:
            try:
                return await maintenance.status(timeout=5)
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)


@dataclass
class Filled:
    keys: int
    seconds: float
    db_size: int
    revision: int
    version: str


async def fill(address: str, target: int, value_size: int, in_flight: int) -> Filled:
    """Puts random values of `value_size` bytes (`in_flight` at a time) until the member's
    database is at least `target` bytes."""
    started = time.monotonic()
    written = 0
    async with channel(address) as ch:
        kv = KVService(ch, max_attempts=3)
        maintenance = MaintenanceService(ch, max_attempts=3)

        async def put_range(first: int, count: int) -> None:
            queue = iter(range(first, first + count))

            async def worker() -> None:
                for i in queue:  # the workers share one iterator
                    await kv.put(f"/bench/{i:08d}", os.urandom(value_size), timeout=60)

            await asyncio.gather(*(worker() for _ in range(in_flight)))

        # The values alone, then more until Status agrees (bbolt's pages and branches add a
        # little, a freelist may reuse some).
        batch = -(-target // value_size)
        while True:
            await put_range(written, batch)
            written += batch
            status = await maintenance.status(timeout=30)
            if status.dbSize >= target:
                break
            batch = max(in_flight, -(-(target - status.dbSize) // value_size))
    return Filled(
        written, time.monotonic() - started, status.dbSize, status.header.revision, status.version
    )


# --- S3 -------------------------------------------------------------------------------------


async def make_bucket(settings: S3Settings, bucket: str) -> None:
    async with S3Client(settings) as s3:
        await s3.create_bucket(bucket)


async def s3_head_size(settings: S3Settings, bucket: str, key: str) -> int | None:
    async with S3Client(settings) as s3:
        info = await s3.head(bucket, key)
    return None if info is None else info.size


async def s3_delete(settings: S3Settings, bucket: str, key: str) -> None:
    async with S3Client(settings) as s3:
        await s3.delete(bucket, key)


async def remove_bucket(settings: S3Settings, bucket: str) -> None:
    """The bucket's uploads and objects, then the bucket."""
    async with S3Client(settings) as s3:
        for upload in await s3.pending_uploads(bucket, ""):
            await s3.abort_upload(bucket, upload.key, upload.upload_id)
        for obj in await s3.list_objects(bucket, ""):
            await s3.delete(bucket, obj.key)
        await s3.delete_bucket(bucket)


def write_aws_dir(directory: Path) -> None:
    """The seed's `aws` Secret as files (what the restore pod mounts)."""
    directory.mkdir(parents=True)
    (directory / "credentials").write_text(
        "[default]\n"
        f"aws_access_key_id = {os.environ['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {os.environ['AWS_SECRET_ACCESS_KEY']}\n"
    )
    (directory / "config").write_text(
        f"[default]\nregion = {os.environ.get('AWS_REGION') or 'us-east-1'}\n"
    )
    for f in directory.iterdir():
        f.chmod(0o600)


def env_without_aws() -> dict[str, str]:
    """The fetch's environment: its credentials come from the files only, as in the pod."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


# --- the measurements -----------------------------------------------------------------------


@dataclass
class Backup:
    wall: float
    size: int
    peak_rss_mib: float  # absolute
    growth_mib: float | None = None  # over the warm baseline (operator only)
    growth_cold_mib: float | None = None
    sampled_growth_mib: float | None = None
    baseline_mib: float | None = None
    phases: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # "process", "etcd", "versitygw"

    @property
    def throughput(self) -> float:
        return mib(self.size) / self.wall


def etcdctl_backup(etcd: Etcd, out: Path, others: dict[str, int | None]) -> Backup:
    watch = CpuWatch(others)
    done = run_measured(
        [str(ETCD_BIN / "etcdctl"), f"--endpoints={etcd.url}", "snapshot", "save", str(out)]
    ).check()
    cpu = {"process": done.cpu_s, **watch.spent()}
    return Backup(done.wall, out.stat().st_size, done.hwm_kib / 1024, cpu=cpu)


def operator_backup(
    etcd: Etcd, bucket: str, key: str, others: dict[str, int | None], stream_only: bool = False
) -> Backup:
    """bench/backup_child.py: imports, warm-up, VmHWM reset, then `take_backup` on "go"
    (or, with `stream_only`, the snapshot stream alone, every byte dropped)."""
    argv = [
        str(VENV_PYTHON),
        str(CHILD),
        "--endpoint",
        etcd.address,
        "--bucket",
        bucket,
        "--key",
        key,
        *(["--stream-only"] if stream_only else []),
    ]
    proc = spawn(argv, stdin=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    sampler = RssSampler(proc.pid)
    err: list[str] = []
    err_reader = drain(proc.stderr, err)
    try:
        ready = json.loads(proc.stdout.readline() or "{}")
        if "ready" not in ready:
            raise RuntimeError("the backup process did not get ready")
        time.sleep(0.2)  # a few samples of the baseline from outside
        go = time.monotonic()
        sampled_base = sampler.peak_since(go - 0.2)
        watch = CpuWatch(others)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        spent = watch.spent()
        result = json.loads(line) if line.strip() else {}
    except BaseException:
        proc.kill()  # it may be waiting for "go": it would never end
        raise
    finally:
        code = proc.wait()
        sampler.stop()
        err_reader.join()
    if code != 0 or result.get("kind") not in ("BackupTaken", "StreamOnly"):
        raise RuntimeError(f"the operator's backup failed (exit {code}): {result}\n{''.join(err)}")
    hwm = result["hwm_kib"]
    return Backup(
        wall=result["wall_s"],
        size=result["result"]["size"],
        peak_rss_mib=hwm / 1024,
        growth_mib=(hwm - ready["rss_warm_kib"]) / 1024,
        growth_cold_mib=(hwm - ready["rss_cold_kib"]) / 1024,
        sampled_growth_mib=(sampler.peak_since(go) - sampled_base) / 1024,
        baseline_mib=ready["rss_warm_kib"] / 1024,
        phases=result.get("phases") or {},
        cpu={"process": result["cpu_s"], **spent},
    )


@dataclass
class Restore:
    fetch_wall: float
    restore_wall: float
    fetch_peak_mib: float = 0.0
    fetch_cpu: float = 0.0
    s3_cpu: float | None = None  # the S3 server's, during the fetch

    @property
    def total(self) -> float:
        return self.fetch_wall + self.restore_wall


def etcdutl_restore(snapshot: Path, data_dir: Path) -> float:
    done = run_measured(
        [
            str(ETCD_BIN / "etcdutl"),
            "snapshot",
            "restore",
            str(snapshot),
            *RESTORE_FLAGS,
            f"--data-dir={data_dir}",
        ]
    ).check()
    return done.wall


def operator_restore(
    bucket: str, key: str, aws_dir: Path, out: Path, data_dir: Path, s3_pid: int | None
) -> Restore:
    watch = CpuWatch({"versitygw": s3_pid})
    fetch = run_measured(
        [
            str(VENV_PYTHON),
            "-m",
            "controller.etcdrestore.fetch",
            "--path",
            f"{bucket}/{key}",
            "--aws-dir",
            str(aws_dir),
            "--out",
            str(out),
            "--endpoint",
            os.environ["AWS_ENDPOINT_URL_S3"],
            "--force-path-style",
        ],
        env=env_without_aws(),
    ).check()
    s3_cpu = watch.spent().get("versitygw")
    log(f"  fetch: {fetch.stdout.strip()}")
    restore = etcdutl_restore(out, data_dir)
    return Restore(fetch.wall, restore, fetch.hwm_kib / 1024, fetch.cpu_s, s3_cpu)


IMPORT_ONLY = """
import re
from pathlib import Path
import controller.etcdrestore.fetch
print(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1))
"""


def fetch_floor() -> tuple[float, float]:
    """(peak RSS MiB, wall s) of a process that only imports the fetch program: its floor."""
    done = run_measured([str(VENV_PYTHON), "-c", IMPORT_ONLY], env=env_without_aws()).check()
    return int(done.stdout.strip()) / 1024, done.wall


@dataclass
class Round:
    number: int
    etcdctl: Backup
    ours: Backup
    stream: Backup
    baseline_restore: float
    restore: Restore
    restored_sizes: tuple[int, int]

    @property
    def throughput_ratio(self) -> float:
        return self.ours.throughput / self.etcdctl.throughput

    @property
    def restore_ratio(self) -> float:
        return self.restore.total / self.baseline_restore

    @property
    def cores_busy(self) -> tuple[float, float]:
        """CPU seconds of every process involved over the wall time: etcdctl's, ours."""
        return sum(self.etcdctl.cpu.values()) / self.etcdctl.wall, sum(
            self.ours.cpu.values()
        ) / self.ours.wall

    @property
    def remote_s3_ratio(self) -> float | None:
        """What ours/etcdctl could reach with the S3 server on cores of its own: the backup
        is CPU-bound here, so its wall time is at least its process's CPU time (one event
        loop) and at least its process's and etcd's CPU over the cores they would share."""
        cpu = self.ours.cpu
        if "process" not in cpu or "etcd" not in cpu:
            return None
        bound = max(cpu["process"], (cpu["process"] + cpu["etcd"]) / (os.cpu_count() or 1))
        return self.ours.wall / bound * self.throughput_ratio


def db_file_size(data_dir: Path) -> int:
    return (data_dir / "member" / "snap" / "db").stat().st_size


def one_round(
    number: int, etcd: Etcd, settings: S3Settings, bucket: str, work: Path, aws_dir: Path
) -> Round:
    rdir = work / f"round-{number}"
    rdir.mkdir()
    key = f"bench/round-{number}.db"
    local = rdir / "etcdctl.db"
    s3_pid = versitygw_pid()
    others = {"etcd": etcd.proc.pid if etcd.proc else None, "versitygw": s3_pid}

    def ctl() -> Backup:
        log(f"round {number}: etcdctl snapshot save to {local}")
        b = etcdctl_backup(etcd, local, others)
        log(f"  {mib(b.size):.1f} MiB in {b.wall:.2f} s ({b.throughput:.1f} MiB/s)")
        return b

    def op() -> Backup:
        log(f"round {number}: the operator's backup to s3://{bucket}/{key}")
        b = operator_backup(etcd, bucket, key, others)
        log(
            f"  {mib(b.size):.1f} MiB in {b.wall:.2f} s ({b.throughput:.1f} MiB/s), "
            f"RSS growth {b.growth_mib:.1f} MiB"
        )
        return b

    def stream() -> Backup:
        log(f"round {number}: the operator's snapshot stream alone (no S3)")
        b = operator_backup(etcd, bucket, key, others, stream_only=True)
        log(f"  {mib(b.size):.1f} MiB in {b.wall:.2f} s ({b.throughput:.1f} MiB/s)")
        return b

    # The backups swap order from one round to the next (caches, other work).
    if number % 2:
        etcdctl, streamed, ours = ctl(), stream(), op()
    else:
        ours = op()
        streamed = stream()
        etcdctl = ctl()
    stored = asyncio.run(s3_head_size(settings, bucket, key))
    if stored != ours.size:
        raise RuntimeError(f"s3://{bucket}/{key}: {stored} bytes stored, {ours.size} sent")

    log(f"round {number}: restore through fetch + etcdutl")
    fetched = rdir / "fetched.db"
    restore = operator_restore(bucket, key, aws_dir, fetched, rdir / "restored-ours", s3_pid)
    log(f"  fetch {restore.fetch_wall:.2f} s + etcdutl {restore.restore_wall:.2f} s")
    if fetched.stat().st_size != ours.size:
        raise RuntimeError(f"fetched {fetched.stat().st_size} bytes of {ours.size}")
    log(f"round {number}: etcdutl snapshot restore of the local copy")
    baseline = etcdutl_restore(fetched, rdir / "restored-etcdutl")
    log(f"  {baseline:.2f} s")
    sizes = (db_file_size(rdir / "restored-ours"), db_file_size(rdir / "restored-etcdutl"))

    # This round's files go before the next one's arrive.
    asyncio.run(s3_delete(settings, bucket, key))
    shutil.rmtree(rdir)
    return Round(number, etcdctl, ours, streamed, baseline, restore, sizes)


# --- the report -----------------------------------------------------------------------------


CPU_ROWS = (
    ("process", "the backup process"),
    ("etcd", "etcd"),
    ("versitygw", "the S3 server (versitygw)"),
)


def cpu(b: Backup, who: str) -> str:
    return f"{b.cpu[who]:.2f}" if who in b.cpu else ""


def table(r: Round, floor: tuple[float, float]) -> str:
    rows: list[tuple[str, str, str, str]] = []

    def row(name: str, etcd_tool: str = "", ours: str = "", ratio: str = "") -> None:
        rows.append((name, etcd_tool, ours, ratio))

    b, e = r.ours, r.etcdctl
    row("backup", "etcdctl snapshot save", "take_backup → S3", "ours/etcdctl")
    row("  wall time, s", f"{e.wall:.2f}", f"{b.wall:.2f}", f"{b.wall / e.wall:.2f}x")
    row(
        "  throughput, MiB/s",
        f"{e.throughput:.1f}",
        f"{b.throughput:.1f}",
        f"{r.throughput_ratio:.2f}x (goal ≥ {THROUGHPUT_GOAL})",
    )
    row("  peak RSS, MiB", f"{e.peak_rss_mib:.1f}", f"{b.peak_rss_mib:.1f}")
    row("  RSS before the backup, MiB", "", f"{b.baseline_mib:.1f}")
    row("  peak RSS growth (VmHWM), MiB", "", f"{b.growth_mib:.1f}", f"goal ≤ {RSS_GOAL_MIB:.0f}")
    row("  … sampled VmRSS every 10 ms, MiB", "", f"{b.sampled_growth_mib:.1f}")
    row("  … over imports only (cold), MiB", "", f"{b.growth_cold_mib:.1f}")
    for phase, seconds in sorted(b.phases.items()):
        row(f"  … time in {phase}, s", "", f"{seconds:.2f}")
    for who, label in CPU_ROWS:
        if who in e.cpu or who in b.cpu:
            row(f"  CPU s, {label}", cpu(e, who), cpu(b, who))
    busy = r.cores_busy
    row("  cores busy: CPU s of all / wall s", f"{busy[0]:.2f}", f"{busy[1]:.2f}")
    if r.remote_s3_ratio is not None:
        row("  … bound with the S3 server elsewhere", "", "", f"{r.remote_s3_ratio:.2f}x")
    st = r.stream
    row("snapshot stream alone (no S3)", "", "open_snapshot", "stream/etcdctl")
    row(
        "  throughput, MiB/s",
        "",
        f"{st.throughput:.1f}",
        f"{st.throughput / e.throughput:.2f}x",
    )
    row("  peak RSS growth (VmHWM), MiB", "", f"{st.growth_mib:.1f}")
    for who, label in CPU_ROWS[:2]:
        row(f"  CPU s, {label}", "", cpu(st, who))
    rs = r.restore
    row("restore", "etcdutl alone", "fetch + etcdutl", "ours/etcdutl")
    row("  fetch from S3, s", "", f"{rs.fetch_wall:.2f}")
    row("  etcdutl snapshot restore, s", f"{r.baseline_restore:.2f}", f"{rs.restore_wall:.2f}")
    row("  total, s", f"{r.baseline_restore:.2f}", f"{rs.total:.2f}", f"{r.restore_ratio:.2f}x")
    row("  fetch throughput, MiB/s", "", f"{mib(b.size) / rs.fetch_wall:.1f}")
    row("  fetch CPU s (its process)", "", f"{rs.fetch_cpu:.2f}")
    if rs.s3_cpu is not None:
        row("  CPU s of the S3 server during the fetch", "", f"{rs.s3_cpu:.2f}")
    row("  fetch peak RSS (VmHWM), MiB", "", f"{rs.fetch_peak_mib:.1f}")
    row("  … of its imports alone, MiB", "", f"{floor[0]:.1f}")
    row("  … its start (imports alone), s", "", f"{floor[1]:.2f}")
    row(
        "  restored db file, MiB",
        f"{mib(r.restored_sizes[1]):.1f}",
        f"{mib(r.restored_sizes[0]):.1f}",
    )
    widths = [max(len(x[i]) for x in rows) for i in range(4)]
    lines = []
    for i, x in enumerate(rows):
        lines.append(
            f"{x[0]:<{widths[0]}} | {x[1]:>{widths[1]}} | {x[2]:>{widths[2]}} | {x[3]}".rstrip()
        )
        if i == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def goals(r: Round) -> str:
    ok_t = r.throughput_ratio >= THROUGHPUT_GOAL
    ok_m = (r.ours.growth_mib or 0) <= RSS_GOAL_MIB
    return (
        f"goals, round {r.number}: throughput ours/etcdctl {r.throughput_ratio:.2f}x ≥ "
        f"{THROUGHPUT_GOAL}: {'met' if ok_t else 'NOT met'}; peak RSS growth "
        f"{r.ours.growth_mib:.1f} MiB ≤ {RSS_GOAL_MIB:.0f}: {'met' if ok_m else 'NOT met'}; "
        f"restore ours/etcdutl {r.restore_ratio:.2f}x (no goal)"
        + (
            ""
            if r.remote_s3_ratio is None
            else f"; throughput bound with the S3 server elsewhere {r.remote_s3_ratio:.2f}x"
        )
    )


# --- main -----------------------------------------------------------------------------------


@contextlib.contextmanager
def terminated_is_exit() -> Iterator[None]:
    """SIGTERM unwinds like an exception, so the clean-up below runs."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mib", type=int, default=1100, help="database size to fill to")
    parser.add_argument("--value-kib", type=int, default=1024, help="size of each value")
    parser.add_argument("--puts-in-flight", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="parent of the temp dir")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load_local_env()
    settings = s3_settings()
    target = args.size_mib * MIB
    work = Path(tempfile.mkdtemp(prefix="backup-bench-", dir=args.workdir))
    bucket = f"bench-backup-{uuid.uuid4().hex[:12]}"
    etcd = Etcd(work, quota=max(2 * target + GIB, 2 * GIB))
    bucket_made = False
    load_start = load_average()
    with terminated_is_exit():
        try:
            check_disk(work, target)
            log(f"etcd 3.6 on {etcd.address}, data under {work}")
            etcd.start()
            asyncio.run(etcd_status(etcd.address))
            log(
                f"filling to {args.size_mib} MiB with {args.value_kib} KiB values, "
                f"{args.puts_in_flight} puts in flight"
            )
            filled = asyncio.run(
                fill(etcd.address, target, args.value_kib * 1024, args.puts_in_flight)
            )
            log(
                f"filled: {filled.keys} keys, dbSize {mib(filled.db_size):.1f} MiB in "
                f"{filled.seconds:.1f} s ({mib(filled.db_size) / filled.seconds:.1f} MiB/s)"
            )
            bucket_made = True  # (or half-made: the clean-up tries)
            asyncio.run(make_bucket(settings, bucket))
            aws_dir = work / "aws"
            write_aws_dir(aws_dir)
            floor = fetch_floor()
            rounds = [
                one_round(n, etcd, settings, bucket, work, aws_dir)
                for n in range(1, args.rounds + 1)
            ]
        except BaseException:
            if etcd.proc is not None and etcd.proc.poll() is not None:
                log(f"etcd exited:\n{etcd.log_tail()}")
            raise
        finally:
            kill_children()
            etcd.stop()
            if bucket_made:
                try:
                    asyncio.run(remove_bucket(settings, bucket))
                except S3Error as exc:
                    log(f"could not remove bucket {bucket}: {exc}")
            shutil.rmtree(work, ignore_errors=True)

    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"backup bench {now}, commit {git_head()}, etcd {filled.version}")
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load_start} (start), {load_average()} (end)"
    )
    print(
        f"database: dbSize {mib(filled.db_size):.1f} MiB ({filled.db_size / GIB:.2f} GiB), "
        f"{filled.keys} keys of {args.value_kib} KiB random values, revision {filled.revision}; "
        f"fill: {filled.seconds:.1f} s ({mib(filled.db_size) / filled.seconds:.1f} MiB/s, "
        f"{args.puts_in_flight} puts in flight)"
    )
    for r in rounds:
        print(f"\nround {r.number}: snapshot {r.ours.size} bytes ({mib(r.ours.size):.1f} MiB)")
        print(table(r, floor))
    print()
    for r in rounds:
        print(goals(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
