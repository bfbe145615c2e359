"""The EtcdRestore reconciler in a Manager of its own against the real API server and the real
S3 server (nothing mocked), the EtcdCluster reconciler's half of the hand-off played by the
test (it writes the cluster's status as that reconciler would).

Three restores of the seed's shape in a fresh namespace: `example` names a good backup — it
is verified, handed off, and complete once the cluster's status.restoredFrom names its uid;
`broken` names a backup with one byte flipped — it fails with BackupCorrupt; `later` names a
cluster that does not exist yet — ClusterNotFound, until the cluster is created.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from controller import etcdrestore
from controller.clients.kube import EVENTS, KubeClient
from controller.clients.s3 import S3Client, settings_from_files
from controller.cmd import CONTROLLERS
from controller.common.resources import ETCD_CLUSTERS, ETCD_RESTORES, SECRETS
from controller.options import parse_options
from controller.runtime.manager import Manager
from controller.runtime.store import Obj
from tests.integration.test_s3_client import seed_files
from tests.seed import CLUSTER, DELETE, RESTORE, load_seed, set_field

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
PAYLOAD = b"a backup's bytes " * 4000
GOOD = PAYLOAD + hashlib.sha256(PAYLOAD).digest()
FLIPPED = GOOD[:77] + bytes([GOOD[77] ^ 0x80]) + GOOD[78:]


@pytest.fixture
async def bucket(local_env: dict[str, str]) -> AsyncIterator[str]:
    settings = settings_from_files(seed_files(local_env), local_env["AWS_ENDPOINT_URL_S3"], True)
    name = f"test-restore-{uuid.uuid4().hex[:12]}"
    async with S3Client(settings) as s3:
        await s3.create_bucket(name)
        await s3.put(name, "good", GOOD)
        await s3.put(name, "corrupt", FLIPPED)
        try:
            yield name
        finally:
            for obj in await s3.list_objects(name, ""):
                await s3.delete(name, obj.key)
            await s3.delete_bucket(name)


@pytest.fixture
async def operator(kube: KubeClient, namespace: str) -> AsyncIterator[Manager]:
    """`etcd-operator --controllers restore --namespace NS` without leader election."""
    opts = parse_options(
        ["--controllers", "restore", "--namespace", namespace], {}, tuple(CONTROLLERS)
    )
    mgr = Manager(kube, namespace=namespace)
    etcdrestore.setup(mgr, opts)
    run = asyncio.create_task(mgr.run())
    try:
        yield mgr
    finally:
        mgr.stop()
        await asyncio.wait_for(asyncio.gather(run, return_exceptions=True), 60)


def cluster_doc(namespace: str, name: str) -> Obj:
    doc = load_seed(CLUSTER)
    set_field(doc, "metadata.namespace", namespace)
    set_field(doc, "metadata.name", name)
    set_field(doc, "metadata.annotations", DELETE)  # no cluster-wide operator takes it
    return doc


def restore_doc(namespace: str, name: str, path: str, endpoint: str) -> Obj:
    doc = load_seed(RESTORE)
    set_field(doc, "metadata.namespace", namespace)
    set_field(doc, "metadata.name", name)
    set_field(doc, "spec.etcdCluster.name", name)
    set_field(doc, "spec.s3.path", path)
    set_field(doc, "spec.s3.endpoint", endpoint)
    return doc


def condition(obj: Obj, type_: str) -> tuple[str, str, str] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return c["status"], c.get("reason", ""), c.get("message", "")
    return None


async def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.2)


async def events_of(kube: KubeClient, namespace: str, name: str) -> list[tuple[str, str, str]]:
    items = (await kube.list(EVENTS, namespace))["items"]
    mine = [e for e in items if e["involvedObject"]["name"] == name]
    mine.sort(key=lambda e: int(e["metadata"]["resourceVersion"]))  # creation order
    return [(e["type"], e["reason"], e["message"]) for e in mine]


async def test_verified_handed_off_and_complete_corrupt_failed_missing_cluster_waited_for(
    kube: KubeClient, namespace: str, local_env: dict[str, str], bucket: str, operator: Manager
) -> None:
    endpoint = local_env["AWS_ENDPOINT_URL_S3"]
    files = seed_files(local_env)
    secret = {
        "metadata": {"name": "aws", "namespace": namespace},
        "data": {k: base64.b64encode(v).decode() for k, v in files.items()},
    }
    await kube.create(SECRETS, secret, namespace)
    for name in ("example", "broken"):
        await kube.create(ETCD_CLUSTERS, cluster_doc(namespace, name), namespace)
    restores = {
        "example": restore_doc(namespace, "example", f"{bucket}/good", endpoint),
        "broken": restore_doc(namespace, "broken", f"{bucket}/corrupt", endpoint),
        "later": restore_doc(namespace, "later", f"{bucket}/good", endpoint),
    }
    uids = {
        name: (await kube.create(ETCD_RESTORES, doc, namespace))["metadata"]["uid"]
        for name, doc in restores.items()
    }

    async def restore(name: str) -> Obj:
        return await kube.get(ETCD_RESTORES, name, namespace)

    async def reason_is(name: str, type_: str, want: tuple[str, str]) -> Obj | None:
        obj = await restore(name)
        got = condition(obj, type_)
        return obj if got is not None and got[:2] == want else None

    # example: verified for its generation, then waiting for the cluster reconciler.
    example = await until(
        lambda: reason_is("example", "Complete", ("False", "WaitingForCluster")), 60, "verified"
    )
    status = example["status"]
    assert status["observedGeneration"] == example["metadata"]["generation"]
    assert condition(example, "Verified") == (
        "True",
        "BackupVerified",
        condition(example, "Verified")[2],  # type: ignore[index]
    )
    assert (
        f"s3://{bucket}/good: {len(GOOD)} bytes, SHA-256 verified"
        in (
            condition(example, "Verified")[2]  # type: ignore[index]
        )
    )
    assert not status.get("succeeded") and condition(example, "Failed") is None

    # broken: failed, for good.
    broken = await until(
        lambda: reason_is("broken", "Failed", ("True", "BackupCorrupt")), 60, "corrupt"
    )
    assert broken["status"]["succeeded"] is False
    assert f"s3://{bucket}/corrupt is not a whole snapshot" in broken["status"]["reason"]

    # later: no cluster yet, then the cluster appears and its creation is enough.
    await until(lambda: reason_is("later", "Verified", ("False", "ClusterNotFound")), 60, "404")
    await kube.create(ETCD_CLUSTERS, cluster_doc(namespace, "later"), namespace)
    await until(lambda: reason_is("later", "Verified", ("True", "BackupVerified")), 60, "later")

    # The cluster reconciler's part: a Restore operation, then restoredFrom with the uid.
    operation = {
        "type": "Restore",
        "phase": "Seeding",
        "message": "example-seed is restoring",
        "inputs": {"restoreUID": uids["example"]},
    }
    await kube.patch(
        ETCD_CLUSTERS, "example", {"status": {"operation": operation}}, namespace, sub="status"
    )
    await until(lambda: reason_is("example", "Complete", ("False", "Restoring")), 30, "progress")
    source = f"s3://{bucket}/good"
    done = {
        "operation": None,
        "restoredFrom": {
            "source": source,
            "restoreName": "example",
            "restoreUid": uids["example"],
            "completedAt": "2026-11-30T12:00:00Z",
        },
    }
    await kube.patch(ETCD_CLUSTERS, "example", {"status": done}, namespace, sub="status")
    example = await until(
        lambda: reason_is("example", "Complete", ("True", "Restored")), 30, "complete"
    )
    assert example["status"]["succeeded"] is True

    # Events: one per change, Warnings for what went wrong, never a credential. (An Event is
    # posted just after its status write: looked for until it is there.)
    async def events_are(name: str, want: list[tuple[str, str]]) -> bool:
        return [e[:2] for e in await events_of(kube, namespace, name)] == want

    await until(
        lambda: events_are(
            "example",
            [
                ("Normal", "Verifying"),
                ("Normal", "BackupVerified"),
                ("Normal", "WaitingForCluster"),
                ("Normal", "Restoring"),
                ("Normal", "Restored"),
            ],
        ),
        10,
        "the example's events",
    )
    broken_events = [("Normal", "Verifying"), ("Warning", "BackupCorrupt")]
    await until(lambda: events_are("broken", broken_events), 10, "the broken one's events")
    later_events = [
        ("Warning", "ClusterNotFound"),
        ("Normal", "Verifying"),
        ("Normal", "BackupVerified"),
        ("Normal", "WaitingForCluster"),
    ]
    await until(lambda: events_are("later", later_events), 10, "the later one's events")
    everything = str([await restore(n) for n in restores]) + str(
        (await kube.list(EVENTS, namespace))["items"]
    )
    assert local_env["AWS_SECRET_ACCESS_KEY"] not in everything
    assert local_env["AWS_ACCESS_KEY_ID"] not in everything

    # One-shot: the cluster forgetting the restore changes nothing any more.
    rv = example["metadata"]["resourceVersion"]
    await kube.patch(
        ETCD_CLUSTERS, "example", {"status": {"restoredFrom": None}}, namespace, sub="status"
    )
    await asyncio.sleep(2)
    assert (await restore("example"))["metadata"]["resourceVersion"] == rv
