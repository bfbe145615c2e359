"""The EtcdCluster reconciler on the real environment: the operator process runs inside the
cluster network (hack/in-cluster), etcd members run as pods of the node agent.

The seed's example cluster (TLS, PVCs) reaches 3 started voting members that `etcdctl member
list` shows as the user story does; a plain cluster grows 1 → 3 and shrinks back; an operator
that crashes right after MemberAdd converges on restart, creating the pod of the member it
added instead of adding another.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.clients.kube import EVENTS, PDBS, PVCS, ApiError, KubeClient
from controller.common.resources import ETCD_CLUSTERS
from controller.etcdcluster.naming import is_member_name
from tests.e2e.operator import (
    Etcdctl,
    Obj,
    Operator,
    apply_cluster,
    client_certs,
    cluster_status,
    eventually,
    member_pods,
    plain_cluster,
    running_with,
    seed_tls,
)
from tests.seed import CLUSTER, load_seed, set_field

pytestmark = pytest.mark.e2e


async def test_seed_example_cluster_runs_with_tls_and_pvcs(
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
    apply_cluster(kubectl, doc)
    operators()

    status = await eventually(running_with(kube, namespace, "example", 3), "3 ready members")
    assert status["serviceName"] == "example-client" and status["clientPort"] == 2379
    assert status["currentVersion"] == "3.6.16"
    pods = await member_pods(kube, namespace, "example")
    names = sorted(p["metadata"]["name"] for p in pods)
    assert len(names) == 3 and all(is_member_name("example", n) for n in names)
    assert sorted(status["members"]["ready"]) == names
    for pod in pods:
        meta = pod["metadata"]
        assert meta["labels"]["etcd_node"] == meta["name"]
        assert meta["annotations"]["prometheus.io/scrape"] == "true"
        assert meta["ownerReferences"][0]["kind"] == "EtcdCluster"

    async def pvcs_bound() -> list[Obj] | None:
        claims = (await kube.list(PVCS, namespace, label_selector="etcd_cluster=example"))["items"]
        bound = [c for c in claims if (c.get("status") or {}).get("phase") == "Bound"]
        return claims if len(bound) == 3 else None

    claims = await eventually(pvcs_bound, "3 Bound PVCs")

    async def budget() -> Obj | None:
        try:
            return await kube.get(PDBS, "example", namespace)
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    pdb = await eventually(budget, "the cluster's PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 2  # a drain keeps a majority of 3
    assert pdb["spec"]["selector"]["matchLabels"] == {"app": "etcd", "etcd_cluster": "example"}
    assert sorted(c["metadata"]["name"] for c in claims) == names
    assert {c["spec"]["storageClassName"] for c in claims} == {"rbd"}

    etcdctl = Etcdctl(
        local_env, namespace, "example", await client_certs(kube, namespace, tmp_path)
    )
    members = await etcdctl.members_once_served()
    assert sorted(m["name"] for m in members) == names  # a name means: started
    for m in members:
        assert m["peerURLs"] == [f"https://{m['name']}.example.{namespace}.svc:2380"]
        assert m["clientURLs"] == [f"https://{m['name']}.example.{namespace}.svc:2379"]
        assert not m.get("isLearner")
    etcdctl("put", "greeting", "hello")
    assert etcdctl("get", "greeting", "--print-value-only").strip() == "hello"


async def test_plain_cluster_grows_learner_first_and_shrinks(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
) -> None:
    apply_cluster(kubectl, plain_cluster("plain", namespace, 1))
    operators()
    await eventually(running_with(kube, namespace, "plain", 1), "1 ready member")
    etcdctl = Etcdctl(local_env, namespace, "plain")
    await etcdctl.members_once_served()
    etcdctl("put", "kept", "across scaling")

    await kube.patch(ETCD_CLUSTERS, "plain", {"spec": {"size": 3}}, namespace)
    await eventually(running_with(kube, namespace, "plain", 3), "3 ready members")
    members = etcdctl.members()
    assert len(members) == 3 and not any(m.get("isLearner") for m in members)
    assert all(m["peerURLs"][0].startswith("http://") for m in members)

    await kube.patch(ETCD_CLUSTERS, "plain", {"spec": {"size": 1}}, namespace)
    await eventually(running_with(kube, namespace, "plain", 1), "back to 1 member")

    async def one_pod() -> bool:
        return len(await member_pods(kube, namespace, "plain")) == 1

    await eventually(one_pod, "the removed members' pods to be deleted")
    (survivor,) = etcdctl.members()
    assert survivor["name"] == (await member_pods(kube, namespace, "plain"))[0]["metadata"]["name"]
    assert etcdctl("get", "kept", "--print-value-only").strip() == "across scaling"


async def test_crash_after_member_add_converges_on_restart(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
) -> None:
    apply_cluster(kubectl, plain_cluster("crashy", namespace, 2))
    crashing = operators(faults="after-member-add:crash")
    await crashing.crash("after-member-add")
    assert crashing.proc.returncode != 0

    # The learner is in etcd; its pod was never created.
    etcdctl = Etcdctl(local_env, namespace, "crashy")
    members = await etcdctl.members_once_served()
    (learner,) = [m for m in members if m.get("isLearner")]
    added = learner["peerURLs"][0].split("//")[1].split(".")[0]
    assert added not in {
        p["metadata"]["name"] for p in await member_pods(kube, namespace, "crashy")
    }

    operators()
    await eventually(running_with(kube, namespace, "crashy", 2), "2 ready members after restart")
    pods = {p["metadata"]["name"] for p in await member_pods(kube, namespace, "crashy")}
    members = etcdctl.members()
    assert added in pods and len(pods) == 2  # the added member got its pod; no third member
    assert sorted(m["name"] for m in members) == sorted(pods)
    assert not any(m.get("isLearner") for m in members)


async def test_missing_tls_secrets_fail_with_an_event_until_created(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
) -> None:
    doc = load_seed(CLUSTER)
    set_field(doc, "metadata.namespace", namespace)
    set_field(doc, "spec.size", 1)
    apply_cluster(kubectl, doc)
    operators()

    async def failed() -> Obj | None:
        status = await cluster_status(kube, namespace, "example")
        return status if status.get("phase") == "Failed" else None

    status = await eventually(failed, "phase Failed")
    assert "etcd-addops-peer-tls" in status["reason"]
    (available,) = [c for c in status["conditions"] if c["type"] == "Available"]
    assert (available["status"], available["reason"]) == ("False", "TLSSecretMissing")

    async def warning_event() -> bool:
        events = (await kube.list(EVENTS, namespace))["items"]
        return any(
            e["reason"] == "TLSSecretMissing" and e["involvedObject"]["name"] == "example"
            for e in events
        )

    await eventually(warning_event, "a TLSSecretMissing event")
    assert await member_pods(kube, namespace, "example") == []  # nothing was created

    seed_tls(local_env, namespace)
    await eventually(running_with(kube, namespace, "example", 1), "Running once the secrets exist")
