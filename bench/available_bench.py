"""Benchmark (not a test): time to available and heal time, each against a bare-etcd baseline
measured in the same run, printed as ratios (issue 9, "Faster to Available").

Everything happens in a namespace of its own (deleted at the end, also on failure), with an
operator of its own: namespaced (`--no-cluster-wide --namespace NS`, its Lease in NS), so it
never acts on the e2e tests' clusterwide-annotated clusters and they never act on ours.

 1. **Operator time to available**, --rounds times: a plain 3-member EtcdCluster (no TLS;
    emptyDir members, or PVC-backed with --pvc) is created, and the clock runs from the
    create request until
      - etcd says so: every member pod's etcd answers, its member list has 3 started voting
        members and they agree on a leader (the bench's own probe, below), and
      - the status says so: phase Running, readyMembers 3 (seen on a watch).
    The first is the operator's own latency; the difference is status writing.
 2. **Bare baseline**, interleaved with 1 (round i runs operator then bare, round i+1 the
    other way round, so load drifts hit both): three plain pods of the same etcd image, with
    the operator's hostname/subdomain, flags and probes under a headless Service (so the pod
    start cost is the same) but without its DNS-waiting init container (--bare-dns-wait keeps
    it), joined the way the operator does it: member 1 a new one-member cluster; for
    members 2 and 3 `etcdctl member add --learner`, create the pod, `etcdctl member promote`
    retried every 0.1 s while etcd refuses (learner not in sync, unhealthy cluster). etcdctl
    runs in ONE long-lived `hack/in-cluster bash` (so each call costs a fork and exec, not a
    network namespace); "member 1 serves" is seen by the same probe as in 1. The clock stops
    at the same "3 voters with a leader" check. Ratio = operator / bare, goal ≤ 1.5.
 3. **Heal**, --heal-rounds times, on one PVC-backed 3-member cluster of the same operator
    (its own time to available is printed too): one member pod is deleted (the members in
    turn); the clock runs until the SAME member (name and member ID) answers at its new pod's
    IP as a voter, agrees on the leader and its /health (a quorum read) is true. The pod start
    of that new pod (first seen on the watch → the same "healthy") is the baseline:
    goal heal ≤ pod start + 5 s. Also printed: the bare members' pod start (pod created →
    etcd answers), and when the status is Running with 3 ready members again.

The probe: every 0.1 s the bench asks each member pod's etcd (at its pod IP, from the host,
which sits on the pod bridge) for its status and member list through etcd's JSON gateway
(POST /v3/maintenance/status, /v3/cluster/member/list) — in-process, so probing costs neither
side a process. Pod times (created, IP, init containers done, Ready, gone) come from a watch.

Prints the medians, spreads and ratios, then per round type the median time of each
milestone (pod created/IP/initialized/Ready, etcd answering/voting from the probe, learner
added/promoted from the operator's log, the DNS-wait init container's lookups and the etcd
process's start from the node agent's container logs) so the gaps show where the operator's
time goes. Logs and every round's
timeline go to .local/bench-available/. Timings are printed, never asserted.
Run with `make bench-available` (needs `make install`); root, as hack/in-cluster needs it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from nodeagent.kinds import NAMESPACES, SERVICE_ACCOUNTS

from api import EtcdCluster
from controller.clients.kube import ApiError, KubeClient, Resource
from controller.common.resources import ETCD_CLUSTERS, PODS, SERVICES
from controller.etcdcluster import resources
from controller.runtime.store import Obj

ROOT = Path(__file__).resolve().parents[1]
IN_CLUSTER = ROOT / "hack" / "in-cluster"
LOG_DIR = ROOT / ".local" / "bench-available"
NODEAGENT_LOGS = ROOT / ".local" / "nodeagent" / "logs"  # <ns>_<pod>_<uid>/<container>/N.log
LEASE_ID = "bench-available"
BARE_LABEL = "bench-available/bare"  # not etcd_cluster: the operator's cache never sees them
PROBE_EVERY = 0.1
RETRY_EVERY = 0.1  # the bare join's etcdctl retries
CLIENT_PORT = 2379
# Heal goal of issue 9: the same member healthy within its pod start plus this.
HEAL_SLACK = 5.0
AVAILABLE_GOAL = 1.5


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load_local_env() -> None:
    """KUBECONFIG and PATH (kubectl, etcdctl) from .local/env, when not run through `make`."""
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


class BenchError(RuntimeError):
    pass


async def bounded(what: str, timeout: float, awaitable: Awaitable[Any]) -> Any:
    try:
        async with asyncio.timeout(timeout):
            return await awaitable
    except TimeoutError:
        raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}") from None


# --- what the watches saw -------------------------------------------------------------------


@dataclass
class PodSeen:
    """One pod (by uid) and when the bench saw each of its milestones (monotonic seconds)."""

    name: str
    uid: str
    labels: dict[str, str]
    created: float
    ip: str | None = None
    marks: dict[str, float] = field(default_factory=dict)  # ip, initialized, ready, serving, …
    member_id: int | None = None
    learner: bool | None = None

    def mark(self, what: str, when: float) -> None:
        self.marks.setdefault(what, when)

    @property
    def live(self) -> bool:
        return "deleting" not in self.marks and "gone" not in self.marks


@dataclass
class StatusSeen:
    when: float
    phase: str
    ready: int


class Watcher:
    """List-and-watch of one kind in the namespace; `update` turns objects into state, and
    `until` resolves when a predicate on that state first holds (with the event's time)."""

    def __init__(self, kube: KubeClient, res: Resource, namespace: str):
        self.kube, self.res, self.namespace = kube, res, namespace
        self._waiters: list[tuple[Callable[[], Any], asyncio.Future[tuple[float, Any]]]] = []
        self._task: asyncio.Task[None] | None = None
        self.synced = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"watch {self.res.plural}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                listing = await self.kube.list(self.res, self.namespace)
                now = time.monotonic()
                for item in listing.get("items") or []:
                    self.update("ADDED", item, now)
                self.synced.set()
                self.notify()
                rv = listing["metadata"]["resourceVersion"]
                events = self.kube.watch(
                    self.res, self.namespace, resource_version=rv, read_timeout=90
                )
                async for event in events:
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        break  # e.g. 410 Gone: list again
                    if kind == "BOOKMARK":
                        continue
                    self.update(str(kind), obj, time.monotonic())
                    self.notify()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dropped connection: list and watch again
                log(f"watch of {self.res.plural} restarts: {exc!r}")
                await asyncio.sleep(0.5)

    def update(self, kind: str, obj: Obj, now: float) -> None:
        raise NotImplementedError

    def notify(self) -> None:
        now = time.monotonic()
        for entry in list(self._waiters):
            check, fut = entry
            if fut.done():
                self._waiters.remove(entry)
                continue
            found = check()
            if found:
                fut.set_result((now, found))
                self._waiters.remove(entry)

    async def until(self, check: Callable[[], Any], what: str, timeout: float) -> tuple[float, Any]:
        """(monotonic time, the truthy value) once `check()` holds, checked at each event
        (and now). Probe results count as events too: the probe calls notify()."""
        found = check()
        if found:
            return time.monotonic(), found
        fut: asyncio.Future[tuple[float, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((check, fut))
        try:
            result: tuple[float, Any] = await bounded(what, timeout, fut)
            return result
        finally:
            if not fut.done():
                fut.cancel()


class PodWatcher(Watcher):
    def __init__(self, kube: KubeClient, namespace: str):
        super().__init__(kube, PODS, namespace)
        self.pods: dict[str, PodSeen] = {}  # by uid

    def update(self, kind: str, obj: Obj, now: float) -> None:
        meta, status = obj.get("metadata") or {}, obj.get("status") or {}
        uid = meta.get("uid", "")
        seen = self.pods.get(uid)
        if seen is None:
            labels = dict(meta.get("labels") or {})
            seen = self.pods[uid] = PodSeen(meta.get("name", ""), uid, labels, now)
        if kind == "DELETED":
            seen.mark("gone", now)
            return
        if meta.get("deletionTimestamp"):
            seen.mark("deleting", now)
        if status.get("podIP"):
            seen.ip = status["podIP"]
            seen.mark("ip", now)
        for cond in status.get("conditions") or []:
            if cond.get("status") == "True" and cond.get("type") in ("Initialized", "Ready"):
                seen.mark(cond["type"].lower(), now)

    def of(self, select: Callable[[PodSeen], bool]) -> list[PodSeen]:
        return sorted((p for p in self.pods.values() if select(p)), key=lambda p: p.created)

    def live(self, select: Callable[[PodSeen], bool] = lambda p: True) -> list[PodSeen]:
        return [p for p in self.of(select) if p.live]


def of_cluster(name: str) -> Callable[[PodSeen], bool]:
    return lambda p: p.labels.get("etcd_cluster") == name or p.labels.get(BARE_LABEL) == name


class ClusterWatcher(Watcher):
    def __init__(self, kube: KubeClient, namespace: str):
        super().__init__(kube, ETCD_CLUSTERS, namespace)
        self.history: dict[str, list[StatusSeen]] = {}

    def update(self, kind: str, obj: Obj, now: float) -> None:
        name = (obj.get("metadata") or {}).get("name", "")
        status = obj.get("status") or {}
        seen = StatusSeen(now, str(status.get("phase") or ""), int(status.get("readyMembers") or 0))
        if kind == "DELETED":
            seen = StatusSeen(now, "deleted", 0)
        history = self.history.setdefault(name, [])
        if not history or (history[-1].phase, history[-1].ready) != (seen.phase, seen.ready):
            history.append(seen)

    def running(self, name: str, ready: int, since: float = 0.0) -> StatusSeen | None:
        """The first status at or after `since` that is Running with `ready` ready members."""
        for seen in self.history.get(name, []):
            if seen.when >= since and seen.phase == "Running" and seen.ready == ready:
                return seen
        return None

    def latest(self, name: str) -> StatusSeen | None:
        history = self.history.get(name)
        return history[-1] if history else None


# --- etcd, as the bench sees it -------------------------------------------------------------


class EtcdProbe:
    """etcd's JSON gateway at pod IPs, from the host (it sits on the pod bridge).

    In the background, every PROBE_EVERY s, each live pod's etcd is asked for its status:
    the pod gets "serving" when it first answers, "voting" when it first answers as a
    non-learner; each answer wakes the watchers' waiters."""

    def __init__(self, pods: PodWatcher, wake: list[Watcher]):
        self.pods = pods
        self.wake = wake
        self.session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self.statuses: dict[str, Obj] = {}  # pod uid → its last status answer

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=1.0)
        self.session = aiohttp.ClientSession(timeout=timeout)
        self._task = asyncio.create_task(self._run(), name="etcd probe")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.session:
            await self.session.close()

    async def call(self, ip: str, path: str, body: Obj | None = None) -> Obj | None:
        assert self.session is not None
        try:
            async with self.session.post(f"http://{ip}:{CLIENT_PORT}{path}", json=body or {}) as r:
                if r.status != 200:
                    return None
                answer = await r.json(content_type=None)
                return answer if isinstance(answer, dict) else None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None

    async def health(self, ip: str) -> bool:
        """/health: a linearizable read through the member (quorum and a leader)."""
        assert self.session is not None
        try:
            async with self.session.get(f"http://{ip}:{CLIENT_PORT}/health") as r:
                answer = await r.json(content_type=None)
                return r.status == 200 and str(answer.get("health")) == "true"
        except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError):
            return False

    async def members(self, ip: str) -> list[Obj] | None:
        answer = await self.call(ip, "/v3/cluster/member/list")
        return None if answer is None else list(answer.get("members") or [])

    async def _probe(self, pod: PodSeen) -> None:
        if pod.ip is None:
            return
        answer = await self.call(pod.ip, "/v3/maintenance/status")
        if answer is None:
            self.statuses.pop(pod.uid, None)
            return
        now = time.monotonic()
        self.statuses[pod.uid] = answer
        pod.member_id = int((answer.get("header") or {}).get("member_id") or 0)
        pod.learner = bool(answer.get("isLearner"))
        pod.mark("serving", now)
        if not pod.learner:
            pod.mark("voting", now)

    async def _run(self) -> None:
        while True:
            live = [p for p in self.pods.live() if p.ip]
            await asyncio.gather(*(self._probe(p) for p in live))
            for watcher in self.wake:
                watcher.notify()
            await asyncio.sleep(PROBE_EVERY)

    def leader_of(self, pods: Iterable[PodSeen]) -> int:
        """The leader every given pod's last status names, 0 if one did not answer or they
        disagree."""
        leaders = set()
        for pod in pods:
            answer = self.statuses.get(pod.uid)
            if answer is None:
                return 0
            leaders.add(int(answer.get("leader") or 0))
        return leaders.pop() if len(leaders) == 1 else 0

    async def voters_with_leader(self, pods: list[PodSeen], size: int) -> bool:
        """etcd itself: `size` members in the member list, every one started and voting, the
        pods answering as exactly those members, all naming the same leader among them."""
        if len(pods) != size or any(p.ip is None for p in pods):
            return False
        leader = self.leader_of(pods)
        if not leader or any(p.learner or p.learner is None for p in pods):
            return False
        listed = await self.members(str(pods[0].ip))
        if listed is None or len(listed) != size:
            return False
        ids = {int(m.get("ID") or 0) for m in listed}
        started = all(m.get("name") and m.get("clientURLs") for m in listed)
        voting = not any(m.get("isLearner") for m in listed)
        return started and voting and leader in ids and {p.member_id for p in pods} == ids


# --- etcdctl inside the cluster network -----------------------------------------------------


class Shell:
    """One `hack/in-cluster bash` run, fed commands on stdin: each etcdctl then costs a fork
    and exec inside the pod network, not a new network namespace (0.5 s a run here)."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self.proc: asyncio.subprocess.Process | None = None
        self.lock = asyncio.Lock()

    async def start(self) -> None:
        env = {**os.environ, "IN_CLUSTER_NAMESPACE": self.namespace}
        self.proc = await asyncio.create_subprocess_exec(
            str(IN_CLUSTER),
            "bash",
            "--noprofile",
            "--norc",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
        rc, out = await self.run(["etcdctl", "version"])
        if rc != 0:
            raise BenchError(f"etcdctl in the cluster network: {out}")

    async def run(self, argv: list[str], timeout: float = 20.0) -> tuple[int, str]:
        """Exit code and output (stdout and stderr) of one command."""
        assert self.proc and self.proc.stdin and self.proc.stdout
        marker = f"__bench_done_{uuid.uuid4().hex}"
        line = f"timeout {int(timeout)} {shlex.join(argv)} 2>&1; rc=$?; echo; echo {marker} $rc\n"
        async with self.lock:
            self.proc.stdin.write(line.encode())
            await self.proc.stdin.drain()
            out: list[str] = []
            async with asyncio.timeout(timeout + 10):
                while True:
                    raw = await self.proc.stdout.readline()
                    if not raw:
                        raise BenchError(f"the in-cluster shell exited: {''.join(out)}")
                    text = raw.decode(errors="replace")
                    if text.startswith(marker):
                        return int(text.split()[1]), "".join(out).strip()  # (and echo's \n)
                    out.append(text)

    async def close(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(Exception):
            assert self.proc.stdin
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 15)
        except TimeoutError:
            self.proc.send_signal(signal.SIGTERM)  # hack/in-cluster forwards it
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 15)


# --- the operator ---------------------------------------------------------------------------


LOG_LINE = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) +(\w+) +([\w.]+): (.*)$")


class Operator:
    """The operator from this checkout inside the cluster network, namespaced, logging text."""

    def __init__(self, namespace: str, log_path: Path):
        self.log_path = log_path
        argv = [
            str(ROOT / ".venv" / "bin" / "etcd-operator"),
            "--no-cluster-wide",
            "--namespace",
            namespace,
            "--controllers",
            "cluster",
            "--leader-elect",
            "--leader-election-namespace",
            namespace,
            "--leader-election-id",
            LEASE_ID,
            # As the e2e tests: a CPU-starved leader keeps its lease.
            "--leader-election-lease-duration",
            "8",
            "--leader-election-renew-deadline",
            "6",
            "--leader-election-retry-period",
            "1",
            "--metrics-bind-address",
            "0",
            "--health-probe-bind-address",
            "0",
            "--log-format",
            "text",
        ]
        # Our own environment must not configure the operator (ETCD_OPERATOR_FAULTS, …).
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD_OPERATOR_")}
        with log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(IN_CLUSTER), *argv], cwd=ROOT, env=env, stdout=out, stderr=out
            )

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_leading(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while "caches synced; starting" not in self.text():
            if self.proc.poll() is not None:
                raise BenchError(f"the operator exited:\n{self.text()[-3000:]}")
            if time.monotonic() > deadline:
                raise BenchError(f"the operator did not lead within {timeout:.0f}s")
            await asyncio.sleep(0.2)

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise BenchError(f"the operator exited:\n{self.text()[-3000:]}")

    def lines(self, since_wall: float, until_wall: float) -> list[tuple[float, str]]:
        """(wall time, "logger: message  fields") of its log lines between the two times."""
        day = datetime.fromtimestamp(since_wall, UTC).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        midnight = day.timestamp()
        found = []
        for line in self.text().splitlines():
            m = LOG_LINE.match(line)
            if not m:
                continue
            h, mi, s, ms = (int(g) for g in m.groups()[:4])
            wall = midnight + h * 3600 + mi * 60 + s + ms / 1000
            if wall < since_wall - 43200:
                wall += 86400  # past midnight
            if since_wall - 0.5 <= wall <= until_wall + 0.5:
                found.append((wall, f"{m.group(6)}: {m.group(7)}"))
        return found

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # hack/in-cluster forwards it
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


# --- objects --------------------------------------------------------------------------------


def cluster_doc(name: str, namespace: str, size: int, pvc: bool) -> Obj:
    """A plain EtcdCluster, no scope annotation (our namespaced operator's), no TLS."""
    spec: Obj = {"size": size}
    if pvc:
        spec["pod"] = {
            "persistentVolumeClaimSpec": {
                "storageClassName": "standard",
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            }
        }
    return {
        "apiVersion": ETCD_CLUSTERS.api_version,
        "kind": ETCD_CLUSTERS.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def bare_model(name: str, namespace: str) -> EtcdCluster:
    """An EtcdCluster model, only so the operator's own builders shape the bare objects."""
    return EtcdCluster.model_validate(
        {**cluster_doc(name, namespace, 3, pvc=False), "metadata": {"name": name,
         "namespace": namespace, "uid": f"bare-{uuid.uuid4().hex[:8]}"}}
    )  # fmt: skip


def unowned(obj: Obj, name: str) -> Obj:
    """The operator's object without owner (a bare one) and with the bench's label."""
    meta = obj["metadata"]
    meta.pop("ownerReferences", None)
    meta["labels"] = {BARE_LABEL: name}
    return obj


def bare_service(cluster: EtcdCluster) -> Obj:
    svc = unowned(resources.headless_service(cluster), cluster.name)
    svc["spec"]["selector"] = {BARE_LABEL: cluster.name}
    return svc


def bare_pod(
    cluster: EtcdCluster, member: str, peers: list[tuple[str, str]], new: bool, dns_wait: bool
) -> Obj:
    """The operator's member pod (same flags, hostname/subdomain, probes, emptyDir), bare."""
    state: resources.InitialClusterState = "new" if new else "existing"
    pod = unowned(resources.member_pod(cluster, member, peers, state), cluster.name)
    if not dns_wait:
        pod["spec"].pop("initContainers", None)
    return pod


def added_member_id(output: str) -> int:
    """The new member's ID from `etcdctl member add -w json` (its stderr, merged, may hold
    the client's JSON log lines too)."""
    for line in output.splitlines():
        with contextlib.suppress(ValueError):
            answer = json.loads(line)
            if isinstance(answer, dict) and "member" in answer:
                return int(answer["member"]["ID"])
    raise BenchError(f"no member in etcdctl's answer: {output}")


def peer_url(cluster: EtcdCluster, member: str) -> str:
    return f"http://{member}.{cluster.name}.{cluster.namespace}.svc:2380"


# --- what the containers logged -------------------------------------------------------------


def cri_lines(path: Path) -> list[tuple[float, str]]:
    """(wall time, text) of a container log the node agent wrote in CRI format
    (`<RFC 3339 nanoseconds> <stream> <tag> <text>`)."""
    found = []
    with contextlib.suppress(OSError):
        for line in path.read_text(errors="replace").splitlines():
            stamp, _, rest = line.partition(" ")
            text = rest.split(" ", 2)[-1]
            with contextlib.suppress(ValueError):
                when = datetime.fromisoformat(stamp[:26]).replace(tzinfo=UTC)
                found.append((when.timestamp(), text))
    return found


def container_log_marks(
    namespace: str, pod: PodSeen, counts: dict[str, int], label: str
) -> dict[str, float]:
    """Wall times from the node agent's container logs of `pod` (read while it exists:
    they go with it): the DNS-wait init container's first and last answer (and how many
    lookups it made) and the etcd process's first line. Empty when the logs are not there."""
    base = NODEAGENT_LOGS / f"{namespace}_{pod.name}_{pod.uid}"
    marks: dict[str, float] = {}
    dns = cri_lines(base / resources.DNS_CONTAINER / "0.log")
    if dns:
        marks["DNS-wait first answer"] = dns[0][0]
        marks["DNS-wait found its name"] = dns[-1][0]
        counts[f"{label}: DNS-wait lookups"] = sum(1 for _, t in dns if t.startswith("Server:"))
    etcd = cri_lines(base / resources.ETCD_CONTAINER / "0.log")
    if etcd:
        marks["etcd process started"] = etcd[0][0]
    return marks


# --- rounds ---------------------------------------------------------------------------------


@dataclass
class Round:
    kind: str  # operator, bare, heal, pvc
    name: str
    t0: float  # monotonic
    t0_wall: float
    marks: dict[str, float] = field(default_factory=dict)  # milestone → seconds from t0
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    log_lines: list[tuple[float, str]] = field(default_factory=list)  # seconds from t0

    def at(self, what: str, when: float) -> float:
        self.marks[what] = when - self.t0
        return self.marks[what]

    def timeline(self) -> list[tuple[float, str]]:
        items = [(t, k) for k, t in self.marks.items()] + [
            (t, "  log " + text) for t, text in self.log_lines
        ]
        return sorted(items)


class Bench:
    def __init__(self, args: argparse.Namespace, kube: KubeClient, namespace: str):
        self.args = args
        self.kube = kube
        self.ns = namespace
        self.pods = PodWatcher(kube, namespace)
        self.clusters = ClusterWatcher(kube, namespace)
        self.probe = EtcdProbe(self.pods, [self.pods, self.clusters])
        self.shell = Shell(namespace)
        self.operator: Operator | None = None
        self.rounds: list[Round] = []

    # -- shared helpers

    def pod_marks(self, rnd: Round, cluster: str, labels: list[str]) -> None:
        """Each member pod's milestones as `<label> <milestone>`, pods in creation order."""
        for pod, label in zip(self.pods.of(of_cluster(cluster)), labels, strict=False):
            rnd.at(f"{label} pod created", pod.created)
            self.one_pod_marks(rnd, pod, label)

    def one_pod_marks(self, rnd: Round, pod: PodSeen, label: str) -> None:
        """What the watch and the probe saw of `pod`, and what its containers logged."""
        for what in ("ip", "initialized", "serving", "voting", "ready"):
            if what in pod.marks:
                rnd.at(f"{label} {what}", pod.marks[what])
        for what, wall in container_log_marks(self.ns, pod, rnd.counts, label).items():
            rnd.marks[f"{label} {what}"] = wall - rnd.t0_wall

    async def until_voters(self, name: str, size: int, timeout: float) -> float:
        """Monotonic time when etcd first shows `size` started voters with a leader."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.operator:
                self.operator.check_alive()
            pods = self.pods.live(of_cluster(name))
            if await self.probe.voters_with_leader(pods, size):
                return time.monotonic()
            await asyncio.sleep(PROBE_EVERY)
        raise BenchError(f"{name}: no {size} voters with a leader after {timeout:.0f}s")

    async def gone(self, name: str, timeout: float = 180.0) -> None:
        """Until no pod of `name` is left (the next round starts on a quiet namespace)."""
        await self.pods.until(
            lambda: not any("gone" not in p.marks for p in self.pods.of(of_cluster(name))),
            f"the pods of {name} to go",
            timeout,
        )

    # -- 1. the operator

    async def operator_round(self, i: int, pvc: bool, kind: str = "operator") -> Round:
        name = f"op{i}" if kind == "operator" else f"heal{i}"
        assert self.operator is not None
        rnd = Round(kind, name, time.monotonic(), time.time())
        await self.kube.create(ETCD_CLUSTERS, cluster_doc(name, self.ns, 3, pvc), self.ns)
        etcd_done = await self.until_voters(name, 3, self.args.timeout)
        rnd.at("3 voters with a leader (etcd)", etcd_done)
        left = self.args.timeout - (time.monotonic() - rnd.t0)
        status_done, _ = await self.clusters.until(
            lambda: self.clusters.running(name, 3), f"{name} Running with 3 ready", max(left, 5)
        )
        rnd.at("status Running, 3 ready", status_done)
        self.pod_marks(rnd, name, ["member 1", "member 2", "member 3"])
        end_wall = rnd.t0_wall + max(rnd.marks.values())
        self.operator_log(rnd, name, end_wall)
        return rnd

    def operator_log(self, rnd: Round, name: str, end_wall: float) -> None:
        """The operator's log lines of this cluster in the round; learner milestones."""
        assert self.operator is not None
        members: list[str] = []
        for wall, text in self.operator.lines(rnd.t0_wall, end_wall):
            if f"{self.ns}/{name}" not in text and f" {name}-" not in text:
                continue
            offset = wall - rnd.t0_wall
            short = re.sub(r"  (controller|reconcile_id)=\S+", "", text)
            short = re.sub(rf" key={re.escape(self.ns)}/\S+", "", short)
            rnd.log_lines.append((offset, short))
            if m := re.search(r"(added|promoted) learner (\S+)", text):
                if m.group(2) not in members:
                    members.append(m.group(2))
                n = members.index(m.group(2)) + 2
                rnd.marks.setdefault(f"member {n} learner {m.group(1)}", offset)
            if "not in sync" in text:
                rnd.counts["promote refused (not in sync)"] = (
                    rnd.counts.get("promote refused (not in sync)", 0) + 1
                )
            if "AddLearner not applied yet" in text:
                rnd.counts["member add refused"] = rnd.counts.get("member add refused", 0) + 1

    async def drop_cluster(self, name: str) -> None:
        with contextlib.suppress(ApiError):
            await self.kube.delete(ETCD_CLUSTERS, name, self.ns, propagation="Background")
        await self.gone(name)

    # -- 2. bare etcd

    async def etcdctl_retry(self, rnd: Round, what: str, argv: list[str], deadline: float) -> str:
        """Runs etcdctl until it succeeds (every RETRY_EVERY s), counting refusals."""
        first_error = ""
        while True:
            rc, out = await self.shell.run(["etcdctl", "--dial-timeout=2s", *argv])
            if rc == 0:
                if first_error:
                    rnd.notes.append(f"{what}: first refusal: {first_error}")
                return out
            rnd.counts[f"{what} refused"] = rnd.counts.get(f"{what} refused", 0) + 1
            first_error = first_error or (out.splitlines()[-1] if out else f"exit {rc}")
            if time.monotonic() > deadline:
                raise BenchError(f"{rnd.name}: {what} kept failing: {out}")
            await asyncio.sleep(RETRY_EVERY)

    async def bare_round(self, i: int) -> Round:
        name = f"bare{i}"
        cluster = bare_model(name, self.ns)
        members = [f"{name}-m{k}" for k in (1, 2, 3)]
        rnd = Round("bare", name, time.monotonic(), time.time())
        deadline = rnd.t0 + self.args.timeout
        dns_wait = self.args.bare_dns_wait
        await self.kube.create(SERVICES, bare_service(cluster), self.ns)
        peers = [(members[0], peer_url(cluster, members[0]))]
        await self.kube.create(PODS, bare_pod(cluster, members[0], peers, True, dns_wait), self.ns)

        def serving(member: str) -> PodSeen | None:
            return next((p for p in self.pods.live() if p.name == member and p.ip and
                         "serving" in p.marks), None)  # fmt: skip

        _, first = await self.pods.until(
            lambda: serving(members[0]), f"{members[0]} serving", self.args.timeout
        )
        endpoint = f"--endpoints=http://{first.ip}:{CLIENT_PORT}"
        for k, member in enumerate(members[1:], start=2):
            url = peer_url(cluster, member)
            rnd.at(f"member {k} learner add sent", time.monotonic())
            out = await self.etcdctl_retry(
                rnd,
                "member add",
                [endpoint, "member", "add", member, "--learner", f"--peer-urls={url}", "-w=json"],
                deadline,
            )
            member_id = added_member_id(out)
            rnd.at(f"member {k} learner added", time.monotonic())
            peers.append((member, url))
            pod = bare_pod(cluster, member, peers, False, dns_wait)
            await self.kube.create(PODS, pod, self.ns)
            await self.etcdctl_retry(
                rnd, "member promote", [endpoint, "member", "promote", f"{member_id:x}"], deadline
            )
            rnd.at(f"member {k} learner promoted", time.monotonic())
        rnd.at("3 voters with a leader (etcd)", await self.until_voters(name, 3, self.args.timeout))
        self.pod_marks(rnd, name, ["member 1", "member 2", "member 3"])
        return rnd

    async def drop_bare(self, name: str) -> None:
        for pod in self.pods.live(of_cluster(name)):
            with contextlib.suppress(ApiError):
                await self.kube.delete(PODS, pod.name, self.ns)
        with contextlib.suppress(ApiError):
            await self.kube.delete(SERVICES, name, self.ns)
        await self.gone(name)

    # -- 3. heal

    async def heal_round(self, i: int, name: str) -> Round:
        timeout = self.args.timeout
        await self.clusters.until(lambda: self.clusters.running(name, 3), "Running", timeout)
        await self.until_voters(name, 3, timeout)
        pods = sorted(self.pods.live(of_cluster(name)), key=lambda p: p.name)
        victim = pods[i % len(pods)]
        member_id = victim.member_id
        leader = self.probe.leader_of(pods) == member_id
        rnd = Round("heal", victim.name, time.monotonic(), time.time())
        rnd.notes.append(f"member {victim.name} ({member_id:x}){' (the leader)' if leader else ''}")
        rnd.counts["deleted the leader"] = int(leader)
        await self.kube.delete(PODS, victim.name, self.ns)
        rnd.at("delete sent", rnd.t0)
        _, old = await self.pods.until(
            lambda: "gone" in victim.marks and victim, "the old pod to go", timeout
        )
        rnd.at("old pod gone", old.marks["gone"])

        def new_pod() -> PodSeen | None:
            same = [p for p in self.pods.live() if p.name == victim.name and p.uid != victim.uid]
            return same[0] if same else None

        _, pod = await self.pods.until(new_pod, "the member's new pod", timeout)
        rnd.at("new pod created", pod.created)
        deadline = time.monotonic() + timeout
        while True:
            if self.operator:
                self.operator.check_alive()
            if pod.ip and pod.member_id == member_id and pod.learner is False:
                others = [p for p in self.pods.live(of_cluster(name)) if p.uid != pod.uid]
                listed = await self.probe.members(pod.ip)
                same = any(
                    int(m.get("ID") or 0) == member_id and m.get("name") == victim.name
                    for m in listed or []
                )
                if (
                    same
                    and self.probe.leader_of([pod, *others])
                    and await self.probe.health(pod.ip)
                ):
                    healthy = time.monotonic()
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"{victim.name} not healthy {timeout:.0f}s after its deletion")
            await asyncio.sleep(PROBE_EVERY)
        rnd.at("same member healthy and voting", healthy)
        degraded = next(
            (s for s in self.clusters.history.get(name, []) if s.when >= rnd.t0 and not (
                s.phase == "Running" and s.ready == 3)), None
        )  # fmt: skip
        if degraded is not None:
            rnd.at(f"status {degraded.phase} {degraded.ready} ready", degraded.when)
            back, _ = await self.clusters.until(
                lambda: self.clusters.running(name, 3, degraded.when), "Running again", timeout
            )
            rnd.at("status Running, 3 ready", back)
        else:
            rnd.notes.append("the status never left Running with 3 ready")
        self.one_pod_marks(rnd, pod, "new pod")
        self.operator_log(rnd, name, rnd.t0_wall + max(rnd.marks.values()))
        return rnd

    # -- the run

    async def run(self) -> None:
        args = self.args
        self.pods.start()
        self.clusters.start()
        await bounded("the watches", 60, self.pods.synced.wait())
        await bounded("the watches", 60, self.clusters.synced.wait())
        await self.probe.start()
        await self.shell.start()
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        op_log = LOG_DIR / f"operator-{self.ns}.log"
        self.operator = Operator(self.ns, op_log)
        await self.operator.wait_leading()
        log(f"operator leading in {self.ns} (log {op_log.relative_to(ROOT)})")

        for i in range(1, args.rounds + 1):
            order = ("operator", "bare") if i % 2 else ("bare", "operator")
            for kind in order:
                if kind == "operator":
                    rnd = await self.operator_round(i, args.pvc)
                    await self.drop_cluster(rnd.name)
                else:
                    rnd = await self.bare_round(i)
                    await self.drop_bare(rnd.name)
                self.rounds.append(rnd)
                done = rnd.marks["3 voters with a leader (etcd)"]
                status = rnd.marks.get("status Running, 3 ready")
                more = f", status {status:.1f}s" if status is not None else ""
                log(f"round {i} {kind}: 3 voters with a leader after {done:.1f}s{more}")
                await asyncio.sleep(args.settle)

        if args.heal_rounds:
            rnd = await self.operator_round(0, pvc=True, kind="pvc")
            rnd.kind = "pvc"
            self.rounds.append(rnd)
            log(f"PVC-backed cluster {rnd.name}: Running after "
                f"{rnd.marks['status Running, 3 ready']:.1f}s")  # fmt: skip
            for i in range(args.heal_rounds):
                await asyncio.sleep(args.settle)
                heal = await self.heal_round(i, rnd.name)
                self.rounds.append(heal)
                log(f"heal {i + 1}: {heal.notes[0]} healthy after "
                    f"{heal.marks['same member healthy and voting']:.1f}s")  # fmt: skip

    async def close(self) -> None:
        if self.operator:
            await asyncio.to_thread(self.operator.stop)
        await self.shell.close()
        await self.probe.stop()
        await self.pods.stop()
        await self.clusters.stop()


# --- the report -----------------------------------------------------------------------------


def spread(values: list[float]) -> str:
    if not values:
        return f"{'n/a':>7} | {'':>7} | {'':>7} | {0:>2}"
    return (
        f"{statistics.median(values):7.1f} | {min(values):7.1f} | {max(values):7.1f} | "
        f"{len(values):>2}"
    )


def marks_of(rounds: list[Round], kind: str, mark: str) -> list[float]:
    return [r.marks[mark] for r in rounds if r.kind == kind and mark in r.marks]


def report(args: argparse.Namespace, rounds: list[Round], header: list[str]) -> str:
    width = 58
    lines = [*header, ""]
    lines.append(f"{'seconds':<{width}} |  median |     min |     max |  n")
    lines.append(f"{'-' * width}-|---------|---------|---------|---")

    def row(label: str, values: list[float]) -> None:
        lines.append(f"{label:<{width}} | {spread(values)}")

    voters, status = "3 voters with a leader (etcd)", "status Running, 3 ready"
    op_etcd = marks_of(rounds, "operator", voters)
    op_status = marks_of(rounds, "operator", status)
    bare = marks_of(rounds, "bare", voters)
    row("operator: create → etcd has 3 voters with a leader", op_etcd)
    row("operator: create → status Running, readyMembers 3", op_status)
    row("bare: 3 members joined as learners by hand → same", bare)
    bare_start = [
        r.marks["member 1 serving"] - r.marks["member 1 pod created"]
        for r in rounds
        if r.kind == "bare" and "member 1 serving" in r.marks
    ]
    row("bare: member pod start (created → etcd answers)", bare_start)
    heals = [r for r in rounds if r.kind == "heal"]
    healthy = "same member healthy and voting"
    heal = [r.marks[healthy] for r in heals]
    pod_start = [r.marks[healthy] - r.marks["new pod created"] for r in heals]
    extra = [h - p for h, p in zip(heal, pod_start, strict=True)]
    row("heal: pod deleted → same member healthy, voting", heal)
    row("heal: its new pod's start (created → that)", pod_start)
    row("heal minus pod start (delete → new pod created)", extra)
    row("heal: pod deleted → status Running, 3 ready", marks_of(rounds, "heal", status))
    pvc = marks_of(rounds, "pvc", status)
    if pvc:
        row("PVC-backed operator cluster: create → status Running, 3", pvc)

    lines.append("")
    med = statistics.median
    if op_etcd and bare:
        paired = [
            o.marks[voters] / b.marks[voters]
            for o, b in zip(
                [r for r in rounds if r.kind == "operator"],
                [r for r in rounds if r.kind == "bare"],
                strict=False,
            )
        ]
        lines.append(
            f"ratio operator/bare, etcd-level:   {med(op_etcd) / med(bare):.2f}x "
            f"(per round: {', '.join(f'{p:.2f}' for p in paired)})"
        )
    if op_status and bare:
        verdict = "met" if med(op_status) / med(bare) <= AVAILABLE_GOAL else "not met"
        lines.append(
            f"ratio operator/bare, status-level: {med(op_status) / med(bare):.2f}x "
            f"(goal ≤ {AVAILABLE_GOAL}x: {verdict})"
        )
    if heal:
        verdict = "met" if med(extra) <= HEAL_SLACK else "not met"
        lines.append(
            f"heal minus pod start: {med(extra):.1f} s median (goal ≤ {HEAL_SLACK:.0f} s: "
            f"{verdict}); heal / pod start {med(heal) / med(pod_start):.2f}x"
        )

    # Where the time goes: each milestone's median offset, per kind of round.
    for kind, title in (
        ("operator", "operator rounds"),
        ("bare", "bare rounds"),
        ("heal", "heal rounds"),
    ):
        of_kind = [r for r in rounds if r.kind == kind]
        if not of_kind:
            continue
        names = sorted(
            {m for r in of_kind for m in r.marks},
            key=lambda m: statistics.median(r.marks[m] for r in of_kind if m in r.marks),
        )
        lines += ["", f"milestones, {title} (median s from the start; Δ from the previous row)"]
        previous = 0.0
        for m in names:
            values = [r.marks[m] for r in of_kind if m in r.marks]
            at = statistics.median(values)
            n = f" (in {len(values)} of {len(of_kind)})" if len(values) != len(of_kind) else ""
            lines.append(f"  {at:6.2f}  Δ{at - previous:5.2f}  {m}{n}")
            previous = at
        counts = sorted({c for r in of_kind for c in r.counts})
        for c in counts:
            per = [r.counts.get(c, 0) for r in of_kind]
            lines.append(f"  count: {c}: {', '.join(map(str, per))} (per round)")
    return "\n".join(lines)


def write_timelines(rounds: list[Round], path: Path) -> None:
    with path.open("w") as out:
        for r in rounds:
            out.write(f"== {r.kind} {r.name} ({'; '.join(r.notes)})\n")
            for t, what in r.timeline():
                out.write(f"  {t:7.2f}  {what}\n")
            out.write("\n")


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


async def wait_for_default_service_account(kube: KubeClient, namespace: str) -> None:
    """Pods are refused until the namespace's default ServiceAccount exists."""
    for _ in range(240):
        try:
            await kube.get(SERVICE_ACCOUNTS, "default", namespace)
            return
        except ApiError:
            await asyncio.sleep(0.5)
    raise BenchError(f"no default ServiceAccount in {namespace}")


def machine_note() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    others = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                args = (entry / "cmdline").read_bytes().split(b"\0")
                if any(b"pytest" in a for a in args[:3]) or any(
                    a.endswith(b"etcd-operator") for a in args[:2]
                ):
                    others += 1
    return f"load average {load} on {os.cpu_count()} CPUs; {others} pytest/operator processes"


def commit() -> str:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() + (" (working tree with changes)" if dirty.stdout.strip() else "")


async def bench(args: argparse.Namespace) -> None:
    load_local_env()
    kube = await KubeClient.connect()
    namespace = f"bench-available-{uuid.uuid4().hex[:6]}"
    started = datetime.now(UTC)
    before = machine_note()
    runner: Bench | None = None
    try:
        await kube.create(NAMESPACES, {"metadata": {"name": namespace}})
        await wait_for_default_service_account(kube, namespace)
        runner = Bench(args, kube, namespace)
        await runner.run()
        after = machine_note()
        storage = "PVC-backed" if args.pvc else "emptyDir"
        bare_pod_text = "with" if args.bare_dns_wait else "without"
        header = [
            f"available bench {started:%Y-%m-%d %H:%M} UTC, commit {commit()}, {namespace}",
            f"operator: namespaced, plain 3-member EtcdClusters ({storage}, no TLS, etcd "
            f"{EtcdCluster.model_validate(cluster_doc('x', 'x', 3, False)).spec.etcd_version}); "
            f"bare: the same pods {bare_pod_text} the DNS-wait init container, learners "
            "joined by etcdctl (retries every 0.1 s); heal on a PVC-backed cluster",
            f"machine: {before} (start); {after} (end)",
        ]
        text = report(args, runner.rounds, header)
        print(text, flush=True)
        stamp = started.strftime("%Y%m%d-%H%M%S")
        (LOG_DIR / f"report-{stamp}.txt").write_text(text + "\n")
        write_timelines(runner.rounds, LOG_DIR / f"timelines-{stamp}.txt")
        log(f"timelines: {(LOG_DIR / f'timelines-{stamp}.txt').relative_to(ROOT)}")
    finally:
        try:
            if runner is not None:
                if runner.rounds:  # what was measured before a failure is still worth reading
                    LOG_DIR.mkdir(parents=True, exist_ok=True)
                    write_timelines(runner.rounds, LOG_DIR / "timelines-last.txt")
                await runner.close()
        finally:
            await delete_namespace(kube, namespace)
            await kube.close()


def parse_args(argv: Iterable[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="operator and bare rounds, each")
    ap.add_argument(
        "--heal-rounds", type=int, default=None, help="pod deletions (default: --rounds; 0: none)"
    )
    ap.add_argument(
        "--pvc", action="store_true", help="PVC-backed clusters in the time-to-available rounds too"
    )
    ap.add_argument(
        "--bare-dns-wait",
        action="store_true",
        help="keep the operator's DNS-waiting init container in the bare pods",
    )
    ap.add_argument("--settle", type=float, default=3.0, help="seconds between rounds")
    ap.add_argument("--timeout", type=float, default=240.0, help="limit of each wait, seconds")
    args = ap.parse_args(list(argv) if argv is not None else None)
    if args.heal_rounds is None:
        args.heal_rounds = args.rounds
    if args.rounds < 1 or args.heal_rounds < 0:
        ap.error("--rounds must be at least 1 and --heal-rounds at least 0")
    return args


def main() -> None:
    args = parse_args()

    async def run() -> None:
        task = asyncio.current_task()
        assert task is not None
        # SIGTERM (as from `timeout`) cancels like Ctrl-C does, so the finally cleans up.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        await bench(args)

    try:
        asyncio.run(run())
    except BenchError as exc:
        raise SystemExit(f"available bench failed: {exc}") from None


if __name__ == "__main__":
    main()
