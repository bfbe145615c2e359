"""EtcdRestore end to end: the seed's restore_cr.yaml against the seed's TLS cluster on PVCs,
from a backup the operator took to the local environment's real S3 server (versitygw).

The cluster-wide operator runs the cluster controller (the seed's EtcdCluster carries the
scope annotation); the backup and restore controllers run namespaced, each on a Lease of its
own, as the seed's three Deployments do. A restore replaces every member by a seed restored
from the backup, then grows back to size: the keys written before the backup are there,
those written after it are gone. A bad object fails the restore with a reason and leaves the
running cluster as it was; an operator that dies mid-restore is continued by the next; a seed
whose object vanished after the verification says why and restores once it is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from controller.clients.kube import PODS, PVCS, KubeClient
from controller.clients.s3 import S3Client
from controller.common.resources import ETCD_CLUSTERS, ETCD_RESTORES
from tests.e2e.operator import (
    Etcdctl,
    Obj,
    Operator,
    apply_cluster,
    client_certs,
    cluster_status,
    eventually,
    member_pods,
    running_with,
    seed_tls,
)
from tests.e2e.test_backup import (
    apply,
    backup_operator,
    backup_status,
    condition,
    download,
    events_of,
    events_with,
    local_s3,
    new_bucket,
    s3_secret,
    seed_backup,
    write_keys,
)
from tests.e2e.test_fault_points import crash_at
from tests.seed import CLUSTER, RESTORE, load_seed, set_field

pytestmark = pytest.mark.e2e
NAME = "example"
BACKUP_KEY = "restore/etcd.backup"


@pytest.fixture
async def store(local_env: dict[str, str]) -> AsyncIterator[S3Client]:
    async with S3Client(local_s3(local_env)) as client:
        yield client


def restore_operator(operators: Callable[..., Operator], namespace: str) -> Operator:
    """A namespaced operator running the restore controller, with a lease of its own."""
    args = ("--controllers", "restore", "--no-cluster-wide", "--namespace", namespace)
    lease = ("--leader-election-namespace", namespace, "--leader-election-id", "restore-e2e")
    return operators(args=args + lease)


def seed_restore(namespace: str, endpoint: str, path: str) -> Obj:
    doc: Obj = load_seed(RESTORE)
    set_field(doc, "metadata.namespace", namespace)
    set_field(doc, "spec.s3.endpoint", endpoint)
    set_field(doc, "spec.s3.path", path)
    return doc


async def restore_status(kube: KubeClient, namespace: str) -> Obj:
    return dict((await kube.get(ETCD_RESTORES, NAME, namespace)).get("status") or {})


async def restore_succeeded(kube: KubeClient, namespace: str) -> Obj:
    """The EtcdRestore's status once it says succeeded (a restore takes minutes here)."""

    async def succeeded() -> Obj | None:
        status = await restore_status(kube, namespace)
        return status if status.get("succeeded") else None

    return dict(await eventually(succeeded, "the restore to succeed", timeout=600))


def count(etcdctl: Etcdctl, prefix: str) -> int:
    return int(etcdctl("get", prefix, "--prefix", "--count-only", "-w", "fields").split()[-1])


async def backed_up_cluster(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    env: dict[str, str],
    operators: Callable[..., Operator],
    certs: Path,
) -> tuple[Etcdctl, str, Operator]:
    """The seed's cluster (3 TLS members on PVCs) with 20 keys under /before/, backed up once
    to a new bucket; returns etcdctl, the backup's path and the cluster operator."""
    seed_tls(env, namespace)
    doc = load_seed(CLUSTER)
    set_field(doc, "metadata.namespace", namespace)
    apply_cluster(kubectl, doc)
    cluster_op = operators()
    await eventually(running_with(kube, namespace, NAME, 3), "the example cluster Running")
    etcdctl = Etcdctl(env, namespace, NAME, await client_certs(kube, namespace, certs))
    await etcdctl.members_once_served()
    await asyncio.to_thread(write_keys, etcdctl, 20, "/before/")

    bucket = new_bucket()
    s3_secret(env, namespace, bucket)
    endpoint = env["AWS_ENDPOINT_URL_S3"]
    apply(kubectl, seed_backup(namespace, endpoint, bucket, "once", BACKUP_KEY, 0))
    backups = backup_operator(operators, namespace)

    async def backed_up() -> bool:
        return bool((await backup_status(kube, namespace, "once")).get("succeeded"))

    await eventually(backed_up, "the one-shot backup")
    backups.stop()
    return etcdctl, f"{bucket}/{BACKUP_KEY}", cluster_op


@pytest.mark.timeout(900)  # a TLS cluster, a backup, three operators, two crashes, regrowth
async def test_seed_restore_replaces_the_members_with_the_backup_and_survives_crashes(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
    tmp_path: Path,
) -> None:
    etcdctl, path, cluster_op = await backed_up_cluster(
        kube, namespace, kubectl, local_env, operators, tmp_path
    )
    await asyncio.to_thread(write_keys, etcdctl, 10, "/after/")
    before = {p["metadata"]["name"] for p in await member_pods(kube, namespace, NAME)}
    cluster_op.stop()

    apply(kubectl, seed_restore(namespace, local_env["AWS_ENDPOINT_URL_S3"], path))
    restore_operator(operators, namespace)
    # The cluster operator dies right after recording the decision, and after creating the
    # seed; each next one continues from the record.
    await crash_at(operators, "after-operation-record")
    await crash_at(operators, "after-restore-seed-create")
    operators()

    status = await restore_succeeded(kube, namespace)
    assert condition(status, "Complete")["status"] == "True"
    cluster = await eventually(running_with(kube, namespace, NAME, 3), "3 ready members again")
    assert cluster["restoredFrom"]["source"] == f"s3://{path}"
    assert cluster["restoredFrom"]["restoreName"] == NAME
    assert cluster.get("operation") is None

    after = {p["metadata"]["name"] for p in await member_pods(kube, namespace, NAME)}
    assert after.isdisjoint(before), "every member was replaced"
    claims = (await kube.list(PVCS, namespace, label_selector=f"etcd_cluster={NAME}"))["items"]
    assert {c["metadata"]["name"] for c in claims} == after, "each member on its own PVC"
    assert len(await asyncio.to_thread(etcdctl.members)) == 3
    assert await asyncio.to_thread(count, etcdctl, "/before/") == 20
    assert await asyncio.to_thread(count, etcdctl, "/after/") == 0

    steps = ("RestoreReplacing", "RestoreSeeding", "RestoreRestarting", "RestoreFinished")
    await events_with(kube, namespace, NAME, *steps)


async def test_a_bad_object_fails_the_restore_and_leaves_the_cluster_untouched(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
    tmp_path: Path,
    store: S3Client,
) -> None:
    etcdctl, path, _ = await backed_up_cluster(
        kube, namespace, kubectl, local_env, operators, tmp_path
    )
    bucket, key = path.split("/", 1)
    good = (await download(store, bucket, key, tmp_path / "good.db")).read_bytes()
    flipped = bytearray(good)
    flipped[len(flipped) // 2] ^= 0x01
    await store.put(bucket, "corrupt/etcd.backup", bytes(flipped))
    before = {p["metadata"]["name"]: p["metadata"]["uid"] for p in await member_pods(
        kube, namespace, NAME
    )}  # fmt: skip
    restore_operator(operators, namespace)
    endpoint = local_env["AWS_ENDPOINT_URL_S3"]

    cases = [
        (f"{bucket}/corrupt/etcd.backup", "BackupCorrupt", "Failed"),
        (f"{bucket}/missing/etcd.backup", "BackupNotFound", "Verified"),
    ]
    for object_path, reason, type_ in cases:
        apply(kubectl, seed_restore(namespace, endpoint, object_path))

        async def refused(reason: str = reason, type_: str = type_) -> Obj | None:
            status = await restore_status(kube, namespace)
            return status if condition(status, type_).get("reason") == reason else None

        status = await eventually(refused, f"the restore refused with {reason}")
        assert not status.get("succeeded")
        events = await events_with(kube, namespace, NAME, reason)
        assert {e["type"] for e in events if e["reason"] == reason} == {"Warning"}
        await asyncio.sleep(5)  # a cluster reconciler that wrongly acted would have started
        cluster = await cluster_status(kube, namespace, NAME)
        assert cluster.get("operation") is None and cluster.get("restoredFrom") is None
        pods = {p["metadata"]["name"]: p["metadata"]["uid"] for p in await member_pods(
            kube, namespace, NAME
        )}  # fmt: skip
        assert pods == before, "the running cluster was not touched"
        kubectl("delete", "etcdrestore", NAME, "-n", namespace, "--wait=true")

    assert await asyncio.to_thread(count, etcdctl, "/before/") == 20
    assert (await kube.get(ETCD_CLUSTERS, NAME, namespace))["status"]["phase"] == "Running"
    assert (
        len((await kube.list(PODS, namespace, label_selector=f"etcd_cluster={NAME}"))["items"]) == 3
    )


@pytest.mark.timeout(900)  # a TLS cluster, a backup, a seed that retries with back-off
async def test_a_seed_whose_backup_vanished_says_why_and_restores_once_it_is_back(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
    tmp_path: Path,
    store: S3Client,
) -> None:
    etcdctl, path, cluster_op = await backed_up_cluster(
        kube, namespace, kubectl, local_env, operators, tmp_path
    )
    cluster_op.stop()
    bucket, key = path.split("/", 1)
    apply(kubectl, seed_restore(namespace, local_env["AWS_ENDPOINT_URL_S3"], path))
    restore_operator(operators, namespace)

    async def verified() -> Obj | None:
        status = await restore_status(kube, namespace)
        return status if condition(status, "Verified").get("status") == "True" else None

    await eventually(verified, "the backup verified")
    # The object goes between its verification and the seed's fetch of it.
    good = (await download(store, bucket, key, tmp_path / "good.db")).read_bytes()
    await store.delete(bucket, key)
    operators()

    async def seed_stuck() -> Obj | None:
        status = await restore_status(kube, namespace)
        complete = condition(status, "Complete")
        return complete if complete.get("reason") == "SeedCannotStart" else None

    complete = await eventually(seed_stuck, "the restore to say its seed cannot start")
    # The fetch program's own last line, through the seed's termination message.
    assert "fetch: BackupNotFound" in complete["message"], complete
    assert complete["status"] == "False"
    events = await events_with(kube, namespace, NAME, "SeedCannotStart")
    assert {e["type"] for e in events if e["reason"] == "SeedCannotStart"} == {"Warning"}

    async def cluster_says_so() -> Obj | None:
        # Only while the seed's init container waits in its back-off: each retry (seconds
        # under load) shows the cluster as merely unreachable.
        degraded = condition(await cluster_status(kube, namespace, NAME), "Degraded")
        return degraded if degraded.get("reason") == "MemberCannotStart" else None

    await eventually(cluster_says_so, "the cluster to say its member cannot start")

    await store.put(bucket, key, good)  # back: the seed's next try fetches it

    await restore_succeeded(kube, namespace)
    await eventually(running_with(kube, namespace, NAME, 3), "3 ready members again")
    assert await asyncio.to_thread(count, etcdctl, "/before/") == 20


async def test_a_cluster_that_lost_every_member_comes_back_from_its_newest_backup(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
    tmp_path: Path,
) -> None:
    etcdctl, path, cluster_op = await backed_up_cluster(
        kube, namespace, kubectl, local_env, operators, tmp_path
    )
    await asyncio.to_thread(write_keys, etcdctl, 10, "/after/")  # after the backup: lost
    cluster_op.stop()
    # Every member pod and volume gone while no operator runs.
    selector = f"etcd_cluster={NAME}"
    kubectl("delete", "pods", "-l", selector, "-n", namespace, "--grace-period=0", "--force")
    kubectl("delete", "pvc", "-l", selector, "-n", namespace, "--wait=true")
    operators()

    async def restored() -> Obj | None:
        status = await running_with(kube, namespace, NAME, 3)()
        return status if status and status.get("restoredFrom") else None

    status = await eventually(restored, "the cluster restored from its backup", timeout=600)
    assert status["restoredFrom"]["source"] == f"s3://{path}"
    assert "restoreName" not in status["restoredFrom"] or not status["restoredFrom"]["restoreName"]
    assert await asyncio.to_thread(count, etcdctl, "/before/") == 20
    assert await asyncio.to_thread(count, etcdctl, "/after/") == 0
    decided = [
        e for e in await events_of(kube, namespace, NAME) if e["reason"] == "RestoreReplacing"
    ]
    assert decided and "every member was lost" in decided[0]["message"], decided
