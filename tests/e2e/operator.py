"""Helpers of the operator e2e tests: the operator process inside the cluster network,
cluster manifests, status polling, etcdctl through the client Service, the seed's TLS."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from controller.clients.kube import PODS, SECRETS, KubeClient
from controller.common.resources import ETCD_CLUSTERS

ROOT = Path(__file__).resolve().parents[2]
IN_CLUSTER = str(ROOT / "hack" / "in-cluster")
TIMEOUT = 360.0  # a loaded 2-core machine: be patient, poll
# Leader election in one namespace keeps two cluster-wide test operators from both acting.
OPERATOR_ARGS = [
    ".venv/bin/etcd-operator",
    "--cluster-wide",
    "--controllers",
    "cluster",
    "--leader-elect",
    "--leader-election-namespace",
    "default",
    "--leader-election-id",
    "etcd-operator-e2e",
    # A CPU-starved leader must keep its lease (a deposed operator exits): 8/6/1 s, as
    # tests/integration/test_operator_process.py; a crashed one is replaced within 8 s.
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
Obj = dict[str, Any]


class Operator:
    """The operator process inside the cluster network, logging to a file.

    Like a Deployment's pod, it is started again when it exits because it lost its Lease (a
    deposed leader exits by design; on a loaded 2-core machine a renewal can miss its
    deadline), also one started with fault points: it still has its point to reach.
    """

    def __init__(
        self, env: dict[str, str], log_path: Path, faults: str = "", args: tuple[str, ...] = ()
    ):
        self.log_path = log_path
        self.env = {**os.environ, **env, "ETCD_OPERATOR_FAULTS": faults}
        self.args = args
        self.restarts = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # a restart and stop() never interleave
        self._first_offset = log_path.stat().st_size if log_path.exists() else 0
        self.proc = self._start()
        threading.Thread(target=self._supervise, daemon=True).start()

    def _start(self) -> subprocess.Popen[bytes]:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as out:
            return subprocess.Popen(
                [IN_CLUSTER, *OPERATOR_ARGS, *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=out,
            )

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            if self.proc.poll() is not None and not self._stopping.is_set():
                with self.log_path.open("rb") as log:
                    log.seek(self._log_offset)
                    lost = b"leadership lost, exiting" in log.read()
                if not lost:
                    return
                with self._lock:
                    if self._stopping.is_set():
                        return
                    self.restarts += 1
                    self.proc = self._start()
            self._stopping.wait(0.5)

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def crash(self, point: str) -> None:
        """Waits for this operator, started with `<point>:crash`, to die there."""
        marker = f"fault injected: crashing at {point}".encode()

        def crashed() -> bool:
            with self._lock, self.log_path.open("rb") as log:  # not while it is restarted
                log.seek(self._first_offset)  # its own runs: the log file is the test's
                return self.proc.poll() is not None and marker in log.read()

        await eventually(lambda: asyncio.to_thread(crashed), f"a crash at {point}")


async def eventually(check: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    """Polls an async check until it returns something truthy; fails naming `what`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def apply_cluster(kubectl: Callable[..., Any], doc: Obj) -> None:
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(doc))


def plain_cluster(name: str, namespace: str, size: int) -> Obj:
    return {
        "apiVersion": ETCD_CLUSTERS.api_version,
        "kind": ETCD_CLUSTERS.kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {"etcd.database.coreos.com/scope": "clusterwide"},
        },
        "spec": {"size": size},
    }


async def cluster_status(kube: KubeClient, ns: str, name: str) -> Obj:
    return dict((await kube.get(ETCD_CLUSTERS, name, ns)).get("status") or {})


def running_with(kube: KubeClient, ns: str, name: str, ready: int) -> Callable[[], Any]:
    async def check() -> Obj | None:
        status = await cluster_status(kube, ns, name)
        ok = status.get("phase") == "Running" and status.get("readyMembers") == ready
        return status if ok and status.get("size") == ready else None

    return check


async def member_pods(kube: KubeClient, ns: str, name: str) -> list[Obj]:
    pods = await kube.list(PODS, ns, label_selector=f"etcd_cluster={name}")
    return [p for p in pods["items"] if not p["metadata"].get("deletionTimestamp")]


class Etcdctl:
    """etcdctl inside the cluster network, against the client Service (TLS when given)."""

    def __init__(self, env: dict[str, str], ns: str, name: str, certs: Path | None = None):
        scheme = "https" if certs else "http"
        self.certs = certs  # the client certificates' directory (a WriteLoad wants it too)
        self.env = {**os.environ, **env, "IN_CLUSTER_NAMESPACE": ns}
        # etcdctl's 2 s dial and 5 s command timeouts are short on a loaded machine (DNS,
        # TLS, an election); no call is retried but those that wait for something.
        self.args = [
            f"--endpoints={scheme}://{name}-client.{ns}.svc:2379",
            "--dial-timeout=15s",
            "--command-timeout=60s",
        ]
        if certs:
            self.args += [
                f"--cacert={certs}/etcd-client-ca.crt",
                f"--cert={certs}/etcd-client.crt",
                f"--key={certs}/etcd-client.key",
            ]

    def __call__(self, *args: str) -> str:
        proc = self.run(*args)
        assert proc.returncode == 0, f"etcdctl {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [IN_CLUSTER, "etcdctl", *self.args, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def members(self) -> list[Obj]:
        return list(json.loads(self("member", "list", "-w", "json"))["members"])

    async def members_once_served(self) -> list[Obj]:
        """The member list as soon as the client Service has a ready member behind it."""

        async def attempt() -> list[Obj] | None:
            proc = await asyncio.to_thread(self.run, "member", "list", "-w", "json")
            return list(json.loads(proc.stdout)["members"]) if proc.returncode == 0 else None

        return list(await eventually(attempt, "a member behind the client Service"))


def seed_tls(env: dict[str, str], ns: str) -> None:
    """The user story's three TLS Secrets for cluster `example` (hack/seed-tls.sh)."""
    script = str(ROOT / "hack" / "seed-tls.sh")
    subprocess.run(
        [script, "example", ns], env={**os.environ, **env}, check=True, capture_output=True
    )


async def client_certs(kube: KubeClient, ns: str, into: Path) -> Path:
    secret = await kube.get(SECRETS, "etcd-addops-client-tls", ns)
    for key, value in secret["data"].items():
        (into / key).write_bytes(base64.b64decode(value))
    return into
