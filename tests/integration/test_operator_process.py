"""Two `etcd-operator --leader-elect` processes against the real API server.

Exactly one leads (holds the Lease) and only it reconciles; killing it hands the work to
the other; SIGTERM drains, releases the Lease and exits 0; a leader whose Lease is taken
from it exits 1. Short lease timings come from the hidden flags; the defaults stay 15/10/2.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import os
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from controller.clients.kube import LEASES, ApiError, KubeClient
from controller.common.resources import ETCD_CLUSTERS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = ROOT / ".venv/bin/etcd-operator"
LEASE = "etcd-operator"
# Shorter than the 15/10/2 defaults so failover is quick, yet a renew deadline of 6 s keeps a
# CPU-starved leader (2 loaded cores) from losing its lease while the test watches the standby.
# A SIGKILLed leader is replaced within lease + retry·1.2 ≈ 9.2 s, inside the 15 s asserted.
TIMINGS = ["--leader-election-lease-duration", "8", "--leader-election-renew-deadline", "6"]
TIMINGS += ["--leader-election-retry-period", "1"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Operator:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    metrics_port: int
    health_port: int

    def logs(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log_path.read_text().splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                lines.append({"msg": raw})
        return lines

    @property
    def identity(self) -> str | None:
        return next((ln.get("identity") for ln in self.logs() if ln.get("msg") == "starting"), None)

    def reconciled(self, key: str) -> bool:
        """A reconcile line for key, logged inside a pass (it carries a reconcile id)."""
        return any(
            ln.get("msg", "").startswith("reconcile ")
            and ln.get("key") == key
            and ln.get("reconcile_id")
            for ln in self.logs()
        )

    def get(self, port: int, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    async def metric(self, sample: str) -> float | None:
        """The value of one exposition line, e.g. 'leader_election_master_status{name=..}'."""
        status, body = await asyncio.to_thread(self.get, self.metrics_port, "/metrics")
        if status != 200:
            return None
        for line in body.splitlines():
            if line.startswith(sample + " "):
                return float(line.split()[-1])
        return None

    async def is_leader(self) -> bool:
        return await self.metric(f'leader_election_master_status{{name="{LEASE}"}}') == 1.0

    async def reconciles_ok(self) -> float:
        """Passes that ended without error (a reconciler that requeues still succeeded)."""
        total = 0.0
        for result in ("success", "requeue", "requeue_after"):
            sample = (
                f'controller_runtime_reconcile_total{{controller="etcdcluster",result="{result}"}}'
            )
            total += await self.metric(sample) or 0.0
        return total


async def eventually(check: Callable[[], Any], timeout: float, what: str) -> None:
    """Polls a predicate (plain or async) until true, or fails naming `what`."""

    async def holds() -> bool:
        result = check()
        return bool(await result if inspect.isawaitable(result) else result)

    try:
        async with asyncio.timeout(timeout):
            while not await holds():  # noqa: ASYNC110 (polling another process's state)
                await asyncio.sleep(0.25)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


@pytest.fixture
def start_operator(namespace: str, local_env: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    started: list[Operator] = []

    def start(name: str, *extra: str) -> Operator:
        metrics, health = free_port(), free_port()
        log_path = tmp_path / f"{name}.log"
        args = [str(OPERATOR), "--kubeconfig", local_env["KUBECONFIG"], "--namespace", namespace]
        args += ["--leader-elect", *TIMINGS, "--controllers", "cluster,backup,restore"]
        args += ["--metrics-bind-address", f"127.0.0.1:{metrics}"]
        args += ["--health-probe-bind-address", f"127.0.0.1:{health}", *extra]
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ)
            )
        op = Operator(name, proc, log_path, metrics, health)
        started.append(op)
        return op

    yield start
    for op in started:
        if op.proc.poll() is None:
            op.proc.kill()
            op.proc.wait(timeout=30)


async def lease_holder(kube: KubeClient, namespace: str) -> str | None:
    try:
        lease = await kube.get(LEASES, LEASE, namespace)
    except ApiError as exc:
        if exc.not_found:
            return None
        raise
    return (lease.get("spec") or {}).get("holderIdentity") or ""


async def create_cluster(kube: KubeClient, namespace: str, name: str) -> str:
    body = {
        "apiVersion": ETCD_CLUSTERS.api_version,
        "kind": ETCD_CLUSTERS.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"size": 3},
    }
    await kube.create(ETCD_CLUSTERS, body, namespace)
    return f"{namespace}/{name}"


async def ready(op: Operator) -> bool:
    status, _ = await asyncio.to_thread(op.get, op.health_port, "/readyz")
    return status == 200


async def exited(op: Operator) -> bool:
    return op.proc.poll() is not None


@pytest.fixture
async def pair(
    kube: KubeClient, namespace: str, start_operator: Any
) -> AsyncIterator[tuple[Operator, Operator]]:
    """Two operators, both ready; returned as (leader, standby)."""
    a, b = start_operator("a"), start_operator("b")
    for op in (a, b):
        await eventually(functools.partial(ready, op), 120, f"{op.name} /readyz 200")
        status, body = await asyncio.to_thread(op.get, op.health_port, "/healthz")
        assert (status, body.strip()) == (200, "ok")

    async def one_leads() -> bool:
        return [await a.is_leader(), await b.is_leader()].count(True) == 1

    await eventually(one_leads, 60, "exactly one leader")
    leader, standby = (a, b) if await a.is_leader() else (b, a)
    assert await lease_holder(kube, namespace) == leader.identity
    yield leader, standby


async def test_only_the_leader_reconciles_and_the_standby_takes_over(
    kube: KubeClient, namespace: str, pair: tuple[Operator, Operator]
) -> None:
    leader, standby = pair
    first = await create_cluster(kube, namespace, "first")
    await eventually(lambda: leader.reconciled(first), 60, "the leader to reconcile")

    async def leader_counted() -> bool:  # the pass logs as it starts, is counted as it ends
        return await leader.reconciles_ok() >= 1

    await eventually(leader_counted, 60, "the leader's pass to be counted")
    await asyncio.sleep(2)  # the standby has its caches (it is ready) but must not act
    assert not standby.reconciled(first)
    assert await standby.reconciles_ok() == 0
    assert not await standby.is_leader()

    leader.proc.send_signal(signal.SIGKILL)
    killed_at = datetime.now(UTC)

    async def standby_holds() -> bool:
        return await lease_holder(kube, namespace) == standby.identity

    await eventually(standby_holds, 15, "the standby to take the Lease within 15 s")
    took = (datetime.now(UTC) - killed_at).total_seconds()
    assert took < 15, took
    second = await create_cluster(kube, namespace, "second")
    await eventually(lambda: standby.reconciled(second), 60, "the new leader to reconcile")
    # A new leader reconciles everything it caches (passes run concurrently, in any order).
    await eventually(lambda: standby.reconciled(first), 60, "the new leader to reconcile first")

    # Graceful stop: drain, release the Lease, exit 0.
    standby.proc.send_signal(signal.SIGTERM)
    await eventually(lambda: exited(standby), 60, "exit after SIGTERM")
    assert standby.proc.returncode == 0, standby.log_path.read_text()[-3000:]
    assert await lease_holder(kube, namespace) == ""


async def test_metrics_and_probes(pair: tuple[Operator, Operator]) -> None:
    leader, standby = pair
    status, body = await asyncio.to_thread(leader.get, leader.metrics_port, "/metrics")
    assert status == 200
    for name in (
        "controller_runtime_reconcile_total",
        "controller_runtime_reconcile_errors_total",
        "controller_runtime_reconcile_time_seconds",
        "controller_runtime_active_workers",
        "controller_runtime_max_concurrent_reconciles",
        "leader_election_master_status",
        "workqueue_depth",
    ):
        assert f"\n{name}" in body or f"# TYPE {name}" in body, name
    workers = 'controller_runtime_max_concurrent_reconciles{controller="etcdcluster"}'
    assert await leader.metric(workers) == 2.0  # the leader runs its workers
    assert await standby.metric(workers) is None  # the standby never started any
    assert await standby.metric(f'leader_election_master_status{{name="{LEASE}"}}') == 0.0
    assert (await asyncio.to_thread(leader.get, leader.health_port, "/nope"))[0] == 404


async def test_a_leader_whose_lease_is_taken_exits_1(
    kube: KubeClient, namespace: str, pair: tuple[Operator, Operator]
) -> None:
    leader, standby = pair
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    intruder = {"holderIdentity": "intruder", "leaseDurationSeconds": 3600, "renewTime": now}
    await kube.patch(LEASES, LEASE, {"spec": intruder}, namespace)
    await eventually(lambda: exited(leader), 60, "the deposed leader to exit")
    assert leader.proc.returncode == 1
    assert any("leadership lost" in ln.get("msg", "") for ln in leader.logs())
    assert await lease_holder(kube, namespace) == "intruder"
    assert standby.proc.poll() is None  # the standby keeps waiting for a valid lease to lapse
