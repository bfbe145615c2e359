"""What the runtime gives the operator, end to end: a rotated Secret reaches the next pass,
a fully-down cluster costs one bounded pass while others progress, and a member that
cannot start is reported on the cluster (status condition and Warning Event)."""

from __future__ import annotations

import base64
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from controller.clients.kube import EVENTS, SECRETS, KubeClient
from controller.common.resources import ETCD_CLUSTERS
from controller.etcdcluster.observe import ETCD_DEADLINE
from tests.e2e.operator import (
    Obj,
    Operator,
    apply_cluster,
    cluster_status,
    eventually,
    member_pods,
    plain_cluster,
    running_with,
    seed_tls,
)
from tests.seed import CLUSTER, load_seed, set_field

pytestmark = pytest.mark.e2e
CLIENT_SECRET = "etcd-addops-client-tls"


def condition(status: Obj, type_: str) -> Obj | None:
    return next((c for c in status.get("conditions") or [] if c["type"] == type_), None)


def foreign_client_tls(into: Path) -> dict[str, str]:
    """A client Secret's data signed by a CA the members do not trust."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=into, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-days", "2", "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=x")
    run("req", "-new", *ec, "-keyout", "c.key", "-out", "c.csr", "-subj", "/CN=foreign")
    run("x509", "-req", "-in", "c.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-out", "c.crt")  # fmt: skip
    files = {"etcd-client-ca.crt": "ca.crt", "etcd-client.crt": "c.crt", "etcd-client.key": "c.key"}
    return {k: base64.b64encode((into / f).read_bytes()).decode() for k, f in files.items()}


async def test_rotated_operator_secret_is_used_by_the_next_pass(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
    tmp_path: Path,
) -> None:
    seed_tls(local_env, namespace)
    doc = load_seed(CLUSTER)
    set_field(doc, "metadata.namespace", namespace)
    set_field(doc, "spec.size", 1)
    apply_cluster(kubectl, doc)
    operators()
    await eventually(running_with(kube, namespace, "example", 1), "1 ready member")
    good = (await kube.get(SECRETS, CLIENT_SECRET, namespace))["data"]

    async def available(want: str) -> Obj | None:
        cond = condition(await cluster_status(kube, namespace, "example"), "Available")
        return cond if cond and cond["status"] == want else None

    # A steady cluster is looked at every 30 s; the Secret's event must bring it sooner.
    started = time.monotonic()
    await kube.patch(SECRETS, CLIENT_SECRET, {"data": foreign_client_tls(tmp_path)}, namespace)
    lost = await eventually(lambda: available("False"), "Available=False with the foreign cert", 25)
    print(f"foreign client cert seen by the operator after {time.monotonic() - started:.1f}s")
    assert lost["reason"] == "EtcdUnreachable"

    started = time.monotonic()
    await kube.patch(SECRETS, CLIENT_SECRET, {"data": good}, namespace)
    await eventually(lambda: available("True"), "Available=True with the cert restored", 25)
    print(f"restored client cert used after {time.monotonic() - started:.1f}s")


@contextmanager
def frozen(pods: list[str]) -> Iterator[list[int]]:
    """SIGSTOPs the etcd processes of these member pods (a hung member: connections open,
    nothing answers — the worst case for a client), SIGCONTs them afterwards."""
    pids = []
    for pod in pods:
        out = subprocess.run(["pgrep", "-f", f"etcd .*--name={pod}( |$)"], capture_output=True)
        pids += [int(p) for p in out.stdout.split()]
    assert len(pids) == len(pods), f"etcd processes of {pods}: {pids}"
    for pid in pids:
        subprocess.run(["kill", "-STOP", str(pid)], check=True)
    try:
        yield pids
    finally:
        for pid in pids:
            subprocess.run(["kill", "-CONT", str(pid)], check=False)


def slow_passes(log: str, key: str) -> list[float]:
    """Durations of the passes over `key` the operator logged as slow."""
    pattern = re.compile(r"slow reconcile: ([0-9.]+)s.*key=" + re.escape(key) + r"\b")
    return [float(m.group(1)) for m in pattern.finditer(log)]


async def test_fully_down_cluster_costs_one_bounded_pass_while_others_progress(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    operators: Callable[..., Operator],
) -> None:
    apply_cluster(kubectl, plain_cluster("down", namespace, 2))
    apply_cluster(kubectl, plain_cluster("other", namespace, 1))
    operator = operators()
    await eventually(running_with(kube, namespace, "down", 2), "cluster down: 2 ready members")
    await eventually(running_with(kube, namespace, "other", 1), "cluster other: 1 ready member")
    pods = [p["metadata"]["name"] for p in await member_pods(kube, namespace, "down")]

    with frozen(pods):

        async def unavailable() -> bool:
            cond = condition(await cluster_status(kube, namespace, "down"), "Available")
            return bool(cond and cond["status"] == "False")

        await eventually(unavailable, "the frozen cluster to be reported unavailable")
        await kube.patch(ETCD_CLUSTERS, "other", {"spec": {"size": 2}}, namespace)
        await eventually(running_with(kube, namespace, "other", 2), "the other cluster to grow")
        passes = slow_passes(operator.log(), f"{namespace}/down")

    print(f"passes over the fully-down cluster: {', '.join(f'{p:.1f}s' for p in passes)}")
    assert passes, "no pass over the frozen cluster was logged as slow"
    # One deadline, plus the status write and Event on a loaded API server: never two.
    assert max(passes) < 2 * ETCD_DEADLINE


async def test_member_that_cannot_pull_its_image_is_reported(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    operators: Callable[..., Operator],
) -> None:
    doc = plain_cluster("nopull", namespace, 1)
    doc["spec"]["repository"] = "registry.invalid/no-such-etcd"
    apply_cluster(kubectl, doc)
    operators()

    async def degraded() -> Obj | None:
        cond = condition(await cluster_status(kube, namespace, "nopull"), "Degraded")
        return cond if cond and cond["status"] == "True" else None

    cond = await eventually(degraded, "a Degraded condition", 60)
    assert cond["reason"] == "MemberCannotStart"
    assert re.search(r"ErrImagePull|ImagePullBackOff", cond["message"]), cond
    assert "registry.invalid/no-such-etcd" in cond["message"], cond

    async def warning() -> Obj | None:
        events = (await kube.list(EVENTS, namespace))["items"]
        return next(
            (
                e
                for e in events
                if e["involvedObject"]["name"] == "nopull"
                and e["type"] == "Warning"
                and e["reason"] == "MemberCannotStart"
            ),
            None,
        )

    event = await eventually(warning, "a MemberCannotStart Warning Event", 60)
    assert "no-such-etcd" in event["message"]
    status = await cluster_status(kube, namespace, "nopull")
    assert status["phase"] == "Creating"  # never Running while its only member cannot start
