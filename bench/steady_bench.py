"""Benchmark (not a test): the operator's steady-state cost, today's against the baseline's.

TODAY is this checkout; BASELINE is commit 1c50131 (before the runtime rework), run from a
`git worktree` under .local/bench-baseline with the same virtualenv. Both run in the same
bench, on the same steady clusters, one after the other, so their numbers are comparable:

 1. creates N one-member plain EtcdClusters in a fresh namespace (--tls-clusters K of them
    with the seed's static TLS instead: the baseline reads their Secrets on every pass) and
    runs today's operator until every one is Running with 1 ready member (prints how long),
    then stops it;
 2. measures a window with NO operator running: the API server's background (node agent
    heartbeats and pod status writes, the control plane's own loops, other engineers' tests);
 3. for baseline, then today: starts that operator inside the cluster network
    (hack/in-cluster), lets it warm up (every cluster reconciled at least once, and at least
    --warmup seconds: the old operator requeued steady clusters every 30 s), then measures a
    window of --window seconds:
      - API requests per minute by verb and resource, twice: as the operator's client sent
        them (REQUEST_COUNTER wraps its KubeClient: exact, whoever else uses the API), and
        from the API server's own apiserver_request_total beyond watches (deltas; every
        client is counted, hence the idle column to subtract by eye),
      - established etcd client connections (:2379) of the operator's network namespace per
        member (`nsenter -t PID -n ss`), sampled every few seconds: max and mean; and the
        TCP connections that namespace opened (/proc/PID/net/snmp), the churn a sample misses,
      - the operator's RSS (peak of the samples) and CPU seconds (utime+stime delta), also per
        steady cluster, and its reconciles per minute (its own /metrics);
 4. prints metric | idle | baseline | today | ratio (today / baseline) and the goals;
 5. cleans up (operators stopped, namespace deleted, worktree removed) even on failure.

The operators are namespaced (--namespace NS) unless --cluster-wide is given: a cluster-wide
bench operator would also reconcile the clusters of e2e tests running on the same environment
(two operators acting on one cluster), and their clusters would count in its numbers.
Run with `make bench-steady` (needs `make install`); root, as hack/in-cluster needs it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nodeagent.kinds import NAMESPACES, SERVICE_ACCOUNTS
from prometheus_client.parser import text_string_to_metric_families

from controller.clients.kube import ApiError, KubeClient
from controller.common.ownership import CLUSTER_LABEL
from controller.common.resources import ETCD_CLUSTERS, PODS, SECRETS

ROOT = Path(__file__).resolve().parents[1]
IN_CLUSTER = ROOT / "hack" / "in-cluster"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
BASELINE_COMMIT = "1c50131"
BASELINE_TREE = ROOT / ".local" / "bench-baseline"
LOG_DIR = ROOT / ".local" / "bench-steady"
SCOPE_ANNOTATION = "etcd.database.coreos.com/scope"
# Its own Lease, so the bench never takes over (or waits for) the e2e tests' operators.
LEADER_ELECTION = ("--leader-election-id", "etcd-operator-bench")
LEADER_NAMESPACE = "default"
# The operator has a network namespace of its own: any port is free there, and only
# `nsenter` into that namespace reaches it.
OPERATOR_METRICS = "127.0.0.1:8080"
ETCD_CLIENT_PORT = 2379
CLK_TCK = os.sysconf("SC_CLK_TCK")
# apiserver_request_total's labels that tell requests apart here (code, scope, … are summed).
RequestKey = tuple[str, str, str, str]  # verb, group, resource, subresource
STATUS_WRITES = {("PATCH", "etcdclusters", "status"), ("PUT", "etcdclusters", "status")}
OPERATOR_PROCESS = re.compile(r"(^|/)etcd-operator$|^controller\.cmd$")
# Runs `controller.cmd` (of whichever tree PYTHONPATH names: both have KubeClient._send) with
# every request its client sends counted by method and path; SIGUSR1 writes the counts to
# $BENCH_REQUEST_COUNTS. The API server's counters cannot tell the operator from the other
# clients of a shared environment; these can.
REQUEST_COUNTER = """
import collections, json, os, runpy, signal, sys
from controller.clients import kube

BENCH_COUNTED_OPERATOR = True
counts = collections.Counter()
send = kube.KubeClient._send

async def counting_send(self, method, path, *args, **kw):
    watch = str((kw.get("params") or {}).get("watch", "")).lower() == "true"
    counts[("WATCH" if watch else method) + " " + path] += 1
    return await send(self, method, path, *args, **kw)

def dump(signum, frame):
    out = os.environ["BENCH_REQUEST_COUNTS"]
    with open(out + ".tmp", "w") as f:
        json.dump(counts, f)
    os.replace(out + ".tmp", out)

kube.KubeClient._send = counting_send
signal.signal(signal.SIGUSR1, dump)
sys.argv[0] = "etcd-operator"
runpy.run_module("controller.cmd", run_name="__main__", alter_sys=True)
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the environment ------------------------------------------------------------------------


def load_local_env() -> None:
    """KUBECONFIG and PATH (kubectl) from .local/env, when not run through `make`."""
    if os.environ.get("KUBECONFIG"):
        return
    env_file = ROOT / ".local" / "env"
    if not env_file.exists():
        raise SystemExit("the local environment is not up: run `make install`")
    out = subprocess.run(
        ["bash", "-c", f"set -a; source {env_file}; env -0"], capture_output=True, check=True
    ).stdout
    for item in out.decode().split("\0"):
        name, sep, value = item.partition("=")
        if sep:
            os.environ[name] = value


async def run_text(argv: list[str], timeout: float = 60.0) -> str:
    """stdout of a short command; raises with its stderr when it fails."""
    proc = await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def add_baseline_worktree() -> None:
    remove_baseline_worktree()  # a run killed with SIGKILL leaves its worktree behind
    add = ["worktree", "add", "--detach", "--force", str(BASELINE_TREE), BASELINE_COMMIT]
    subprocess.run(["git", "-C", str(ROOT), *add], check=True, capture_output=True)


def remove_baseline_worktree() -> None:
    if BASELINE_TREE.exists():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(BASELINE_TREE)],
            capture_output=True,
        )
    subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], capture_output=True)


# --- the operator processes -----------------------------------------------------------------


def proc_args(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def parent_pids() -> dict[int, int]:
    """pid → parent pid of every process (the operator is a descendant of hack/in-cluster)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def descendants(root_pid: int) -> set[int]:
    parents = parent_pids()
    found = {root_pid}
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return found - {root_pid}


def is_counted_operator(args: list[str]) -> bool:
    """The operator process REQUEST_COUNTER runs (not the shells that exec it)."""
    return args[:2] == [str(VENV_PYTHON), "-c"] and "BENCH_COUNTED_OPERATOR" in args[2]


def is_operator(args: list[str]) -> bool:
    """An operator process: `etcd-operator …` or `python -m controller.cmd …` (not the shells
    and `ip netns exec` whose arguments merely contain the command)."""
    if not args or Path(args[0]).name in ("sh", "bash", "ip", "env", "nsenter"):
        return False
    return any(OPERATOR_PROCESS.search(a) for a in args[:3])


@dataclass
class Operator:
    """One operator (baseline or today) inside the cluster network, logging to a file."""

    label: str
    code_root: Path
    proc: subprocess.Popen[bytes]
    log_path: Path
    pid: int = 0  # the operator's own process, inside its network namespace

    @classmethod
    def start(cls, label: str, code_root: Path, namespace: str, cluster_wide: bool) -> Operator:
        scope = ["--cluster-wide"] if cluster_wide else ["--namespace", namespace]
        argv = [
            # PYTHONPATH picks the code (the worktree's or this checkout's) for the operator
            # only: hack/in-cluster itself runs this checkout's hack/ with the same venv.
            "env",
            f"PYTHONPATH={code_root}",
            f"BENCH_REQUEST_COUNTS={LOG_DIR / f'{label}.requests.json'}",
            str(VENV_PYTHON),
            "-c",
            REQUEST_COUNTER,
            *scope,
            "--controllers",
            "cluster",
            "--leader-elect",
            *LEADER_ELECTION,
            "--leader-election-namespace",
            LEADER_NAMESPACE,
            "--metrics-bind-address",
            OPERATOR_METRICS,
            "--health-probe-bind-address",
            "0",
            "--log-format",
            "text",
        ]
        # Our own environment must not configure the operator (ETCD_OPERATOR_FAULTS, …).
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD_OPERATOR_")}
        env.pop("PYTHONPATH", None)
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log_path = LOG_DIR / f"{label}.log"
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                [str(IN_CLUSTER), *argv], cwd=code_root, env=env, stdout=out, stderr=out
            )
        return cls(label, code_root, proc, log_path)

    async def find_pid(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} operator exited early:\n{self.log_tail()}")
            for pid in descendants(self.proc.pid):
                if is_counted_operator(proc_args(pid)):
                    self.pid = pid
                    return pid
            await asyncio.sleep(0.5)
        raise RuntimeError(f"{self.label} operator process not found:\n{self.log_tail()}")

    async def metrics(self) -> str:
        """Its /metrics, fetched from inside its network namespace."""
        url = f"http://{OPERATOR_METRICS}/metrics"
        return await run_text(
            ["nsenter", "-t", str(self.pid), "-n", "curl", "-sf", "--max-time", "5", url]
        )

    async def reconciles(self) -> float:
        """controller_runtime_reconcile_total over every result (the same name in both)."""
        try:
            text = await self.metrics()
        except RuntimeError:
            return 0.0  # not serving yet
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "controller_runtime_reconcile_total"
        )

    async def requests(self) -> Counter[RequestKey]:
        """Every request its client has sent so far (REQUEST_COUNTER), watches included."""
        path = LOG_DIR / f"{self.label}.requests.json"
        before = path.stat().st_mtime_ns if path.exists() else 0
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while not path.exists() or path.stat().st_mtime_ns == before:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.label} operator wrote no request counts")
            await asyncio.sleep(0.05)
        counts: Counter[RequestKey] = Counter()
        for method_path, n in json.loads(path.read_text()).items():
            counts[request_key(*method_path.split(" ", 1))] += n
        return counts

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # hack/in-cluster forwards it
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


# --- what is measured -----------------------------------------------------------------------


async def api_requests() -> Counter[RequestKey]:
    """The API server's apiserver_request_total beyond watches, summed over code and scope."""
    text = await run_text(["kubectl", "get", "--raw", "/metrics"], timeout=60)
    # Only this family's lines: parsing all of the server's histograms takes seconds, which
    # would stretch the window beyond what was asked.
    wanted = "\n".join(line for line in text.splitlines() if line.startswith("apiserver_request_"))
    counts: Counter[RequestKey] = Counter()
    for family in text_string_to_metric_families(wanted + "\n"):
        for s in family.samples:
            if s.name != "apiserver_request_total" or s.labels.get("verb") == "WATCH":
                continue
            key = (
                s.labels.get("verb", ""),
                s.labels.get("group", ""),
                s.labels.get("resource", ""),
                s.labels.get("subresource", ""),
            )
            counts[key] += int(s.value)
    return counts


def request_key(method: str, path: str) -> RequestKey:
    """The apiserver_request_total labels of a request: a GET without a name is a LIST."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 3:
        group, rest = "", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, rest = parts[1], parts[3:]
    else:
        return method, "", "", path  # a non-resource path
    if rest[0] == "namespaces" and len(rest) > 2:
        rest = rest[2:]  # a namespaced resource, not a Namespace
    resource, name, sub = [*rest, "", ""][:3]
    verb = "LIST" if method == "GET" and not name else method
    return verb, group, resource, sub


def established_etcd_peers(ss_output: str) -> Counter[str]:
    """Peer IP → established connections, from `ss -Htn state established` lines
    (Recv-Q Send-Q Local:Port Peer:Port)."""
    peers: Counter[str] = Counter()
    for line in ss_output.splitlines():
        fields = line.split()
        if len(fields) >= 4:
            ip = ipaddress.ip_address(fields[3].rsplit(":", 1)[0].strip("[]"))
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
                ip = ip.ipv4_mapped  # gRPC's dual-stack sockets show [::ffff:10.213.x.y]
            peers[str(ip)] += 1
    return peers


async def etcd_connections(pid: int) -> Counter[str]:
    only_etcd = f"( dport = :{ETCD_CLIENT_PORT} )"
    argv = ["nsenter", "-t", str(pid), "-n", "ss", "-Htn", "state", "established", only_etcd]
    out = await run_text(argv)
    return established_etcd_peers(out)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def tcp_active_opens(pid: int) -> int:
    """Connections opened from `pid`'s network namespace so far (/proc/PID/net/snmp is its
    namespace's): the operator's alone there, so its etcd (and API) connection churn."""
    header, values = (
        line.split()
        for line in Path(f"/proc/{pid}/net/snmp").read_text().splitlines()
        if line.startswith("Tcp:")
    )
    return int(values[header.index("ActiveOpens")])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLK_TCK


def other_clients(own: set[int]) -> set[str]:
    """Other operators and test runs on the environment now: their requests count too."""
    seen: set[str] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in own:
            continue
        args = proc_args(int(entry.name))
        if is_operator(args) or is_counted_operator(args):
            seen.add(f"operator pid {entry.name}")
        elif len(args) > 1 and "python" in Path(args[0]).name:
            run = "pytest" if args[1:3] == ["-m", "pytest"] else Path(args[1]).name
            if run in ("pytest", "informer_bench.py", "steady_bench.py"):
                seen.add(f"{run} pid {entry.name}")
    return seen


async def member_ips(kube: KubeClient, namespace: str) -> set[str]:
    pods = await kube.list(PODS, namespace, label_selector=CLUSTER_LABEL)
    return {ip for p in pods["items"] if (ip := (p.get("status") or {}).get("podIP"))}


@dataclass
class Window:
    """What one measurement window saw (idle: no operator, so no process numbers)."""

    label: str
    seconds: float = 0.0
    requests: Counter[RequestKey] = field(default_factory=Counter)  # server-side, all clients
    own_requests: Counter[RequestKey] = field(default_factory=Counter)  # the operator's client
    server_restarted: bool = False  # its counters went back: the deltas are not usable
    unknown_peers: set[str] = field(default_factory=set)
    per_member: list[int] = field(default_factory=list)  # one per (sample, member)
    elsewhere: int = 0  # connections to :2379 that are not to our members (max of samples)
    rss_kib: list[int] = field(default_factory=list)
    tcp_opens: int = 0  # connections the operator opened in the window (etcd and API)
    cpu_seconds: float | None = None
    reconciles: float | None = None
    others: set[str] = field(default_factory=set)

    def per_minute(self, count: float) -> float:
        return count * 60 / self.seconds if self.seconds else 0.0


async def measure(
    label: str,
    seconds: float,
    every: float,
    kube: KubeClient,
    namespace: str,
    op: Operator | None,
) -> Window:
    window = Window(label)
    members = await member_ips(kube, namespace)
    own = descendants(op.proc.pid) | {op.proc.pid} if op else set()
    cpu_before = cpu_seconds(op.pid) if op else 0.0
    reconciles_before = await op.reconciles() if op else 0.0
    # After our own /metrics fetch (a loopback connection in its namespace), and read again
    # before the last one, so only the operator's connections count.
    opens_before = tcp_active_opens(op.pid) if op else 0
    own_before = await op.requests() if op else Counter()
    before = await api_requests()
    started = time.monotonic()
    while True:
        window.others |= other_clients(own | {os.getpid()})
        if op:
            peers = await etcd_connections(op.pid)
            window.per_member += [peers[ip] for ip in members]
            unknown = set(peers) - members
            window.unknown_peers |= unknown
            window.elsewhere = max(window.elsewhere, sum(peers[ip] for ip in unknown))
            window.rss_kib.append(rss_kib(op.pid))
        left = started + seconds - time.monotonic()
        if left <= 0:
            break
        await asyncio.sleep(min(every, left))
    after = await api_requests()
    window.seconds = time.monotonic() - started
    window.requests = after - before
    window.server_restarted = any(after[key] < n for key, n in before.items())
    if op:
        window.own_requests = await op.requests() - own_before
        window.tcp_opens = tcp_active_opens(op.pid) - opens_before
        window.cpu_seconds = cpu_seconds(op.pid) - cpu_before
        window.reconciles = await op.reconciles() - reconciles_before
    return window


# --- the clusters ---------------------------------------------------------------------------


def one_member_cluster(
    name: str, namespace: str, cluster_wide: bool, tls: bool = False
) -> dict[str, Any]:
    """A one-member cluster (tests/e2e/operator.py's plain_cluster); with the seed's static
    TLS from the Secrets tls_secrets made for it when `tls`."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if cluster_wide:
        meta["annotations"] = {SCOPE_ANNOTATION: "clusterwide"}
    spec: dict[str, Any] = {"size": 1}
    if tls:
        member = {"peerSecret": f"{name}-peer-tls", "serverSecret": f"{name}-server-tls"}
        spec["TLS"] = {"static": {"member": member, "operatorSecret": f"{name}-client-tls"}}
    kind = {"apiVersion": ETCD_CLUSTERS.api_version, "kind": ETCD_CLUSTERS.kind}
    return {**kind, "metadata": meta, "spec": spec}


async def tls_secrets(kube: KubeClient, name: str, namespace: str) -> None:
    """The seed's three TLS Secrets for cluster `name`, named after it: hack/seed-tls.sh
    makes them under the seed's fixed names (one set per namespace), so they are copied."""
    await run_text([str(ROOT / "hack" / "seed-tls.sh"), name, namespace])
    for part in ("peer", "server", "client"):
        seed_name = f"etcd-addops-{part}-tls"
        secret = await kube.get(SECRETS, seed_name, namespace)
        copy = {"metadata": {"name": f"{name}-{part}-tls"}, "data": secret["data"]}
        await kube.create(SECRETS, copy, namespace)
        await kube.delete(SECRETS, seed_name, namespace)


async def wait_for_default_service_account(kube: KubeClient, namespace: str) -> None:
    """Pods are refused until the namespace's default ServiceAccount exists."""
    for _ in range(240):
        try:
            await kube.get(SERVICE_ACCOUNTS, "default", namespace)
            return
        except ApiError:
            await asyncio.sleep(0.5)
    raise RuntimeError(f"no default ServiceAccount in {namespace}")


async def count_running(kube: KubeClient, namespace: str) -> int:
    """Clusters Running with exactly one ready member."""
    items = (await kube.list(ETCD_CLUSTERS, namespace))["items"]
    running = 0
    for obj in items:
        status = obj.get("status") or {}
        if status.get("phase") == "Running" and status.get("readyMembers") == 1:
            running += 1
    return running


async def bootstrap(
    kube: KubeClient, namespace: str, clusters: int, cluster_wide: bool, timeout: float
) -> float:
    """Today's operator until every cluster runs; seconds it took (from its start)."""
    op = Operator.start("bootstrap", ROOT, namespace, cluster_wide)
    try:
        started = time.monotonic()
        await op.find_pid()
        reported = started
        while (running := await count_running(kube, namespace)) < clusters:
            if op.proc.poll() is not None:
                raise RuntimeError(f"the operator exited during bootstrap:\n{op.log_tail()}")
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"only {running}/{clusters} clusters Running after {timeout}s")
            if time.monotonic() - reported >= 30:
                log(f"bootstrap: {running}/{clusters} Running")
                reported = time.monotonic()
            await asyncio.sleep(2)
        return time.monotonic() - started
    finally:
        op.stop()


async def steady_window(
    label: str, code_root: Path, args: argparse.Namespace, kube: KubeClient, namespace: str
) -> Window:
    op = Operator.start(label, code_root, namespace, args.cluster_wide)
    try:
        started = time.monotonic()
        await op.find_pid()
        # Warm: every cluster reconciled at least once (it holds the lease by then), and long
        # enough that the baseline's 30 s requeue has come round for the steady clusters.
        while (passes := await op.reconciles()) < args.clusters or (
            time.monotonic() - started < args.warmup
        ):
            if op.proc.poll() is not None:
                raise RuntimeError(f"{label} operator exited:\n{op.log_tail()}")
            if time.monotonic() - started > args.warmup + 300:
                raise RuntimeError(f"{label}: {passes} reconciles after warm-up + 300 s")
            await asyncio.sleep(2)
        log(f"{label}: warm after {time.monotonic() - started:.0f}s ({passes:.0f} reconciles)")
        window = await measure(label, args.window, args.sample_every, kube, namespace, op)
        if op.proc.poll() is not None:
            raise RuntimeError(f"{label} operator exited during the window:\n{op.log_tail()}")
        return window
    finally:
        op.stop()


# --- the report -----------------------------------------------------------------------------


def ratio(baseline: float | None, today: float | None, digits: int) -> str:
    """today / baseline of the values as printed (a baseline shown as 0.00 gives "new",
    not a ratio of thousands from a stray sample)."""
    if baseline is None or today is None or baseline < 0 or today < 0:
        return ""  # a rate minus a noisier idle background has no meaningful ratio
    baseline, today = round(baseline, digits), round(today, digits)
    if baseline == 0:
        return "=" if today == 0 else "new"
    return f"{today / baseline:.2f}x"


def cell(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def request_name(key: RequestKey) -> str:
    verb, group, resource, sub = key
    if not resource:
        return f"{verb} {sub}"  # a non-resource path: /healthz, /metrics (this bench's own), …
    name = f"{resource}/{sub}" if sub else resource
    if group and group != ETCD_CLUSTERS.group:
        name += f" ({group})"
    return f"{verb} {name}"


def only(key: RequestKey) -> Callable[[RequestKey], bool]:
    return lambda other: other == key


def requests_where(window: Window, keep: Callable[[RequestKey], bool]) -> float:
    return window.per_minute(sum(n for key, n in window.requests.items() if keep(key)))


Values = tuple[float | None, float | None, float | None]  # idle, baseline, today


def is_lease(key: RequestKey) -> bool:
    return key[2] == "leases"  # leader election's renewals (and the nodes' heartbeats)


def is_status_write(key: RequestKey) -> bool:
    return (key[0], key[2], key[3]) in STATUS_WRITES


def report(
    args: argparse.Namespace, namespace: str, took: float, idle: Window, runs: list[Window]
) -> str:
    baseline, today = runs
    width = 50
    mode = "cluster-wide" if args.cluster_wide else "namespaced"
    lines = [
        f"{args.clusters} steady one-member EtcdClusters ({args.tls_clusters} with TLS) in "
        f"{namespace} ({mode} operators); "
        f"bootstrap to all Running: {took:.0f} s; windows: "
        + ", ".join(f"{w.label} {w.seconds:.0f} s" for w in (idle, *runs)),
        "",
        f"{'metric':<{width}} | {'idle':>8} | {'baseline':>8} | {'today':>8} | today/baseline",
        f"{'-' * width}-|-{'-' * 8}-|-{'-' * 8}-|-{'-' * 8}-|---------------",
    ]

    def row(name: str, values: Values, digits: int = 1) -> None:
        i, b, t = (cell(v, digits) for v in values)
        ratio_text = ratio(values[1], values[2], digits)
        lines.append(f"{name:<{width}} | {i:>8} | {b:>8} | {t:>8} | {ratio_text}")

    def operator_row(name: str, per_run: list[float], digits: int = 1) -> None:
        row(name, (None, per_run[0], per_run[1]), digits)

    def own(keep: Callable[[RequestKey], bool]) -> list[float]:
        return [w.per_minute(sum(n for k, n in w.own_requests.items() if keep(k))) for w in runs]

    def server(keep: Callable[[RequestKey], bool]) -> Values:
        return (
            requests_where(idle, keep),
            requests_where(baseline, keep),
            requests_where(today, keep),
        )

    def minus_idle(values: Values) -> list[float]:
        background = values[0] or 0.0
        return [(values[1] or 0.0) - background, (values[2] or 0.0) - background]

    def by_rate(keys: set[RequestKey], rate: Callable[[RequestKey], float]) -> list[RequestKey]:
        return sorted(keys, key=lambda k: (-rate(k), request_name(k)))

    lines.append("the operator's API requests /min (counted in its client)")
    own_keys = {k for w in runs for k, n in w.own_requests.items() if n}
    for key in by_rate(own_keys, lambda k: max(own(only(k)))):
        operator_row("  " + request_name(key), own(only(key)))
    own_beyond_watches = own(lambda k: k[0] != "WATCH")
    operator_row("  all beyond watches", own_beyond_watches)
    own_gets = own(lambda k: k[0] == "GET" and not is_lease(k))
    operator_row("  GET, leader election aside", own_gets)
    own_status = own(is_status_write)
    operator_row("  etcdclusters status writes", own_status)

    lines.append("API server: apiserver_request_total /min beyond watches, every client")
    seen = {k for w in (idle, *runs) for k, n in w.requests.items() if n}
    shown = seen if args.all_server_rows else {k for k in seen if k in own_keys}
    for key in by_rate(shown, lambda k: max(w.per_minute(w.requests[k]) for w in runs)):
        row("  " + request_name(key), server(only(key)))
    if shown != seen:
        row("  every other verb and resource", server(lambda k: k not in shown))
    everything = server(lambda k: True)
    row("  all", everything)
    operator_row("  all, minus idle", minus_idle(everything))
    server_gets = minus_idle(server(lambda k: k[0] == "GET" and not is_lease(k) and bool(k[2])))
    operator_row("  GET of resources (leases aside), minus idle", server_gets)
    server_status = minus_idle(server(is_status_write))
    operator_row("  etcdclusters status writes, minus idle", server_status)

    lines.append("etcd client connections (:2379) of the operator")
    per_member = [w.per_member or [0] for w in runs]
    operator_row("  established per member, max of samples", [float(max(p)) for p in per_member], 0)
    operator_row("  established per member, mean", [statistics.fmean(p) for p in per_member], 2)
    opens = [w.per_minute(w.tcp_opens) for w in runs]
    operator_row("  TCP connections opened /min (etcd and API)", opens)
    if any(w.elsewhere for w in runs):
        operator_row("  to other endpoints, max", [float(w.elsewhere) for w in runs], 0)

    lines.append("operator process")
    peaks = [max(w.rss_kib or [0]) / 1024 for w in runs]
    operator_row("  RSS peak, MiB", peaks)
    operator_row("  RSS per steady cluster, KiB", [p * 1024 / args.clusters for p in peaks], 0)
    cpu = [w.cpu_seconds or 0.0 for w in runs]
    operator_row("  CPU s over the window", cpu, 2)
    cpu_ms = [w.per_minute(c) * 1000 / args.clusters for w, c in zip(runs, cpu, strict=True)]
    operator_row("  CPU ms per steady cluster per minute", cpu_ms)
    operator_row("  reconciles /min", [w.per_minute(w.reconciles or 0.0) for w in runs])

    lines += [
        "",
        "goals (today; the operator's own counts, the server's minus idle in brackets):",
        f"  GET /min, leader election aside → 0: {own_gets[1]:.1f} [{server_gets[1]:.1f}]",
        f"  status writes /min in steady state ≈ 0: {own_status[1]:.1f} [{server_status[1]:.1f}]",
        f"  etcd connections per member ≤ 1: max {max(per_member[1])}",
    ]
    for w in (idle, *runs):
        if w.server_restarted:
            lines.append(f"WARNING: the API server restarted during the {w.label} window")
        if w.unknown_peers:
            peers = ", ".join(sorted(w.unknown_peers))
            lines.append(f"note: the {w.label} operator also held :2379 connections to {peers}")
        if w.others:
            lines.append(
                f"note: other clients ran during the {w.label} window "
                f"({', '.join(sorted(w.others))}): the server counts their requests too"
            )
    return "\n".join(lines)


# --- main -----------------------------------------------------------------------------------


async def delete_namespace(kube: KubeClient, namespace: str) -> None:
    with contextlib.suppress(ApiError):
        await kube.delete(NAMESPACES, namespace)
    for _ in range(300):  # leave the environment as we found it
        try:
            await kube.get(NAMESPACES, namespace)
        except ApiError:
            return
        await asyncio.sleep(1)
    log(f"namespace {namespace} still terminating; left to the control plane")


async def bench(args: argparse.Namespace) -> None:
    load_local_env()
    kube = await KubeClient.connect()
    namespace = f"bench-steady-{uuid.uuid4().hex[:6]}"
    try:
        add_baseline_worktree()
        await kube.create(NAMESPACES, {"metadata": {"name": namespace}})
        await wait_for_default_service_account(kube, namespace)
        for i in range(args.clusters):
            tls = i >= args.clusters - args.tls_clusters
            name = f"{'t' if tls else 's'}{i:03d}"
            if tls:
                await tls_secrets(kube, name, namespace)
            cluster = one_member_cluster(name, namespace, args.cluster_wide, tls)
            await kube.create(ETCD_CLUSTERS, cluster, namespace)
        plain = args.clusters - args.tls_clusters
        log(f"created {plain} plain + {args.tls_clusters} TLS EtcdClusters in {namespace}")
        took = await bootstrap(kube, namespace, args.clusters, args.cluster_wide, args.timeout)
        log(f"all {args.clusters} Running with 1 ready member after {took:.0f}s")

        await asyncio.sleep(args.settle)  # the last pods' status writes and Events
        log(f"idle window ({args.window:.0f}s, no operator)")
        idle = await measure("idle", args.window, args.sample_every, kube, namespace, None)
        runs: list[Window] = []
        for label, code_root in (("baseline", BASELINE_TREE), ("today", ROOT)):
            runs.append(await steady_window(label, code_root, args, kube, namespace))
            running = await count_running(kube, namespace)
            if running != args.clusters:
                log(f"after {label}: {running}/{args.clusters} Running (steady state was lost)")
        print(report(args, namespace, took, idle, runs), flush=True)
        if args.with_cache_load:
            # The informer bench on top (its own namespace), for a cached load comparison.
            informer_bench = [str(VENV_PYTHON), str(ROOT / "bench" / "informer_bench.py")]
            await asyncio.to_thread(subprocess.run, informer_bench, check=True)
    finally:
        try:
            await delete_namespace(kube, namespace)
        finally:
            remove_baseline_worktree()
            await kube.close()


def parse_args(argv: Iterable[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clusters", type=int, default=30, help="one-member EtcdClusters")
    ap.add_argument(
        "--tls-clusters",
        type=int,
        default=0,
        help="how many of them use the seed's static TLS (the baseline reads their Secrets)",
    )
    ap.add_argument("--window", type=float, default=90.0, help="seconds per measurement window")
    ap.add_argument("--warmup", type=float, default=40.0, help="minimum seconds before a window")
    ap.add_argument("--sample-every", type=float, default=5.0, help="seconds between samples")
    ap.add_argument("--settle", type=float, default=15.0, help="seconds after the bootstrap")
    ap.add_argument("--timeout", type=float, default=900.0, help="bootstrap limit, seconds")
    ap.add_argument(
        "--cluster-wide",
        action="store_true",
        help="annotate the clusters clusterwide and run --cluster-wide operators (only on an "
        "environment nobody else is testing on: they would act on every test's clusters)",
    )
    ap.add_argument(
        "--all-server-rows",
        action="store_true",
        help="list every verb and resource the API server counted, not only the operator's",
    )
    ap.add_argument(
        "--with-cache-load",
        action="store_true",
        help="also run bench/informer_bench.py afterwards",
    )
    args = ap.parse_args(list(argv) if argv is not None else None)
    if not 0 <= args.tls_clusters <= args.clusters:
        ap.error("--tls-clusters must be between 0 and --clusters")
    return args


def main() -> None:
    args = parse_args()

    async def run() -> None:
        task = asyncio.current_task()
        assert task is not None
        # SIGTERM (as from `timeout`) cancels like Ctrl-C does, so the finally cleans up.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        print(f"steady bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
        await bench(args)

    asyncio.run(run())


if __name__ == "__main__":
    main()
