"""The EtcdRestore reconciler's passes (controller/etcdrestore/reconciler.py) on an in-memory
API: what it writes (always with the resourceVersion it read), which Events it posts, which
verification tasks it starts — with the real supervised Tasks and a stand-in for the S3
read, whose outcome each test chooses.

The story of the seed's restore: verified, handed to the EtcdCluster reconciler (the test
plays it, writing the cluster's status), complete, and never touched again; a corrupt
backup fails; S3 failures are retried with one Event per change of reason; a restarted
operator does not read a verified backup again; a spec edited mid-verification drops the
stale outcome.
"""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.clients.kube import ApiError
from controller.common.resources import ETCD_CLUSTERS, ETCD_RESTORES, SECRETS, Resource
from controller.common.scope import SCOPE_ANNOTATION
from controller.etcdrestore import reconciler as reconciler_module
from controller.etcdrestore.outcome import BackupVerified, Outcome, VerifyFailed
from controller.etcdrestore.reconciler import EtcdRestoreReconciler, task_key
from controller.etcdrestore.task import VerifyJob
from controller.runtime.cache import RecentWrites
from controller.runtime.events import ObjectRef
from controller.runtime.reconcile import Result
from controller.runtime.tasks import Tasks, TaskState
from tests.seed import RESTORE, load_seed
from tests.unit.test_etcdrestore_status import CREDENTIALS, secret

KEY = "default/example"
UID = "uid-of-the-restore"
TASK = task_key(KEY, UID)
START = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


class World:
    """The API server and the cache at once (the cache never lags unless told to)."""

    def __init__(self) -> None:
        self.objs: dict[tuple[Resource, str], dict[str, Any]] = {}
        self.rv = 100
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.events: list[tuple[str, str, str]] = []
        self.lagging: dict[tuple[Resource, str], dict[str, Any]] | None = None
        self.written = RecentWrites()  # read-your-writes, as the manager's cache

    def put(self, res: Resource, key: str, obj: dict[str, Any]) -> None:
        self.rv += 1
        obj = copy.deepcopy(obj)
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
        self.objs[(res, key)] = obj

    # the cache
    def get(self, res: Resource, key: str) -> dict[str, Any] | None:
        objs = self.lagging if self.lagging is not None else self.objs
        obj = self.written.read(res, key, objs.get((res, key)))
        return copy.deepcopy(obj) if obj is not None else None

    def wrote(self, res: Resource, key: str, before: str | None, after: dict[str, Any]) -> None:
        self.written.wrote(res, key, before, after)

    def synced(self, res: Resource) -> bool:
        return True

    # the API
    async def patch(
        self,
        res: Resource,
        name: str,
        body: dict[str, Any],
        namespace: str | None = None,
        *,
        sub: str | None = None,
    ) -> dict[str, Any]:
        assert (res, sub) == (ETCD_RESTORES, "status")
        key = f"{namespace}/{name}"
        current = self.objs.get((res, key))
        if current is None:
            raise ApiError(404, {"reason": "NotFound", "message": "gone"})
        if body["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"]:
            raise ApiError(409, {"reason": "Conflict", "message": "the object has been modified"})
        self.patches.append((key, copy.deepcopy(body["status"])))
        status = dict(current.get("status") or {})
        for field, value in body["status"].items():
            if value is None:
                status.pop(field, None)
            else:
                status[field] = value
        self.put(res, key, {**current, "status": status})
        return copy.deepcopy(self.objs[(res, key)])

    # the event recorder
    async def record(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        assert (ref.kind, ref.name, ref.uid) == ("EtcdRestore", "example", self.restore_uid())
        self.events.append((type_, reason, message))

    # views
    def restore_uid(self) -> str:
        return str(self.restore()["metadata"]["uid"])

    def restore(self) -> dict[str, Any]:
        return self.objs[(ETCD_RESTORES, KEY)]

    def condition(self, type_: str) -> tuple[str, str] | None:
        for c in self.restore().get("status", {}).get("conditions") or []:
            if c["type"] == type_:
                return c["status"], c["reason"]
        return None


class Harness:
    def __init__(self, world: World, monkeypatch: pytest.MonkeyPatch):
        self.world = world
        self.now = START
        self.tasks = Tasks()
        self.tasks.open()
        self.started: list[VerifyJob] = []
        self.outcomes: list[Outcome] = []
        self.gate = asyncio.Event()
        self.rec = EtcdRestoreReconciler(
            world,  # type: ignore[arg-type]
            world,  # type: ignore[arg-type]
            self.tasks,
            world,  # type: ignore[arg-type]
            cluster_wide=False,
            clock=lambda: self.now,
        )
        self.rec.ensure_task = lambda task, key, work: self.tasks.ensure(
            task, work, owner="etcdrestore"
        )
        monkeypatch.setattr(reconciler_module, "verify_backup", self._verify)

    async def _verify(self, job: VerifyJob) -> Outcome:
        self.started.append(job)
        await self.gate.wait()
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BackupVerified | VerifyFailed):
            outcome = type(outcome)(**{**outcome.__dict__, "generation": job.generation})
        return outcome

    async def finish_task(self, outcome: Outcome) -> None:
        task = task_key(KEY, self.world.restore_uid())
        self.outcomes.append(outcome)
        self.gate.set()
        status = self.tasks.get(task)
        assert status is not None
        for _ in range(100):
            await asyncio.sleep(0)
            status = self.tasks.get(task)
            if status is not None and status.state is not TaskState.RUNNING:
                break
        self.gate = asyncio.Event()

    async def reconcile(self) -> Result:
        result = await self.rec.reconcile(KEY)
        for _ in range(3):  # a task started by the pass runs its first step
            await asyncio.sleep(0)
        return result

    def bump_generation(self) -> None:
        obj = self.world.restore()
        self.world.put(
            ETCD_RESTORES, KEY, {**obj, "metadata": {**obj["metadata"], "generation": 2}}
        )

    def later(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def restore_obj(generation: int = 1, **metadata: Any) -> dict[str, Any]:
    doc: dict[str, Any] = load_seed(RESTORE)
    doc["metadata"].update(namespace="default", generation=generation, uid=UID)
    doc["metadata"].update(metadata)
    return doc


def cluster_obj(status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "etcd.database.coreos.com/v1beta2",
        "kind": "EtcdCluster",
        "metadata": {"name": "example", "namespace": "default"},
        "status": status or {},
    }


@pytest.fixture
def world() -> World:
    w = World()
    w.put(ETCD_RESTORES, KEY, restore_obj())
    w.put(ETCD_CLUSTERS, KEY, cluster_obj())
    w.put(SECRETS, "default/aws", secret({"credentials": CREDENTIALS}))
    return w


@pytest.fixture
def h(world: World, monkeypatch: pytest.MonkeyPatch) -> Harness:
    return Harness(world, monkeypatch)


VERIFIED = BackupVerified("etcd-bucket", "etcd.backup_v2_2019-10-11-08:53:40", 4096, 0.5, 1)
SOURCE = "s3://etcd-bucket/etcd.backup_v2_2019-10-11-08:53:40"


async def test_the_seed_restore_from_verification_to_complete(world: World, h: Harness) -> None:
    assert await h.reconcile() == Result()
    assert [j.source for j in h.started] == [SOURCE]
    assert world.condition("Verified") == ("Unknown", "Verifying")
    assert world.events == [("Normal", "Verifying", f"reading {SOURCE} and checking its SHA-256")]
    assert await h.reconcile() == Result()  # while it runs: nothing more
    assert len(world.patches) == 1 and len(h.started) == 1

    await h.finish_task(VERIFIED)
    assert await h.reconcile() == Result()
    assert world.condition("Verified") == ("True", "BackupVerified")
    assert world.condition("Complete") == ("False", "WaitingForCluster")
    assert world.restore()["status"]["observedGeneration"] == 1
    assert [e[1] for e in world.events] == ["Verifying", "BackupVerified", "WaitingForCluster"]
    assert world.events[1][2] == f"{SOURCE}: 4096 bytes, SHA-256 verified in 0.5s"
    assert h.tasks.get(TASK) is None  # recorded, forgotten

    # The EtcdCluster reconciler picks it up...
    operation = {"type": "Restore", "phase": "Seeding", "message": "example-seed restoring"}
    operation["inputs"] = {"restoreUID": UID}  # type: ignore[assignment]
    world.put(ETCD_CLUSTERS, KEY, cluster_obj({"operation": operation}))
    await h.reconcile()
    assert world.condition("Complete") == ("False", "Restoring")
    assert world.events[-1] == (
        "Normal",
        "Restoring",
        "EtcdCluster example is restoring: Seeding: example-seed restoring",
    )
    patches = len(world.patches)
    await h.reconcile()
    assert len(world.patches) == patches  # nothing changed: nothing written

    # ... and says it is done.
    restored = {"source": SOURCE, "restoreName": "example", "restoreUid": UID}
    world.put(ETCD_CLUSTERS, KEY, cluster_obj({"restoredFrom": restored}))
    await h.reconcile()
    assert world.restore()["status"]["succeeded"] is True
    assert world.condition("Complete") == ("True", "Restored")
    assert world.events[-1] == (
        "Normal",
        "Restored",
        f"EtcdCluster example was seeded from {SOURCE}",
    )

    # One-shot: whatever happens next, nothing is done again.
    patches, events = len(world.patches), len(world.events)
    world.put(ETCD_CLUSTERS, KEY, cluster_obj())
    world.put(
        ETCD_RESTORES,
        KEY,
        {**world.restore(), "metadata": {**world.restore()["metadata"], "generation": 2}},
    )
    assert await h.reconcile() == Result()
    assert (len(world.patches), len(world.events), len(h.started)) == (patches, events, 1)


async def test_a_corrupt_backup_fails_and_is_never_read_again(world: World, h: Harness) -> None:
    await h.reconcile()
    corrupt = VerifyFailed("BackupCorrupt", f"{SOURCE} is not a whole snapshot: x", 1, True)
    await h.finish_task(corrupt)
    assert await h.reconcile() == Result()
    status = world.restore()["status"]
    assert status["succeeded"] is False and status["reason"] == corrupt.message
    assert world.condition("Failed") == ("True", "BackupCorrupt")
    assert world.condition("Verified") == ("False", "BackupCorrupt")
    assert world.events[-1] == ("Warning", "BackupCorrupt", corrupt.message)
    assert sum(e[1] == "BackupCorrupt" for e in world.events) == 1
    h.later(3600)
    h.rec._memory.clear()  # a restarted operator too
    assert await h.reconcile() == Result()
    assert len(h.started) == 1


async def test_s3_failures_are_retried_with_one_event_per_reason(world: World, h: Harness) -> None:
    await h.reconcile()
    unreachable = VerifyFailed("S3Unreachable", "get etcd-bucket/k: no answer", 1)
    await h.finish_task(unreachable)
    assert await h.reconcile() == Result(requeue_after=5.0)
    assert world.condition("Verified") == ("False", "S3Unreachable")
    h.later(5)
    await h.reconcile()  # the retry: not announced, the failure stays shown
    assert len(h.started) == 2 and world.condition("Verified") == ("False", "S3Unreachable")
    await h.finish_task(unreachable)
    assert await h.reconcile() == Result(requeue_after=10.0)
    assert [e[1] for e in world.events] == ["Verifying", "S3Unreachable"]

    h.later(10)
    await h.reconcile()
    await h.finish_task(VerifyFailed("BackupNotFound", "get etcd-bucket/k: NoSuchKey", 1))
    assert await h.reconcile() == Result(requeue_after=20.0)
    assert world.condition("Verified") == ("False", "BackupNotFound")
    assert [e[:2] for e in world.events][-1] == ("Warning", "BackupNotFound")

    # The user fixes the Secret: tried at once, not after the back-off.
    world.put(SECRETS, "default/aws", secret({"credentials": CREDENTIALS}))
    await h.reconcile()
    assert len(h.started) == 4
    await h.finish_task(VERIFIED)
    await h.reconcile()
    assert world.condition("Verified") == ("True", "BackupVerified")


async def test_preconditions_are_waited_for(world: World, h: Harness) -> None:
    del world.objs[(ETCD_CLUSTERS, KEY)]
    assert await h.reconcile() == Result()
    assert world.condition("Verified") == ("False", "ClusterNotFound")
    assert world.events == [
        ("Warning", "ClusterNotFound", "EtcdCluster example not found in namespace default")
    ]
    await h.reconcile()
    assert len(world.events) == 1 and h.started == []

    world.put(ETCD_CLUSTERS, KEY, cluster_obj())
    del world.objs[(SECRETS, "default/aws")]
    await h.reconcile()
    assert world.condition("Verified") == ("False", "SecretNotFound")
    world.put(SECRETS, "default/aws", secret({"config": b"[default]\nregion = x\n"}))
    await h.reconcile()
    assert world.condition("Verified") == ("False", "InvalidAWSSecret")
    assert [e[:2] for e in world.events][-2:] == [
        ("Warning", "SecretNotFound"),
        ("Warning", "InvalidAWSSecret"),
    ]
    assert h.started == []
    world.put(SECRETS, "default/aws", secret({"credentials": CREDENTIALS}))
    await h.reconcile()
    assert len(h.started) == 1 and world.condition("Verified") == ("Unknown", "Verifying")


async def test_an_unsupported_storage_type_fails_at_once(world: World, h: Harness) -> None:
    obj = restore_obj()
    obj["spec"] = {
        "etcdCluster": {"name": "example"},
        "backupStorageType": "GCS",
        "gcs": {"path": "b/k"},
    }
    world.put(ETCD_RESTORES, KEY, obj)
    await h.reconcile()
    assert world.condition("Failed") == ("True", "StorageTypeNotSupported")
    assert world.restore()["status"]["reason"] == "backupStorageType GCS is not supported yet"
    assert world.events == [
        ("Warning", "StorageTypeNotSupported", "backupStorageType GCS is not supported yet")
    ]
    await h.reconcile()
    assert len(world.patches) == 1 and len(world.events) == 1 and h.started == []


async def test_a_restarted_operator_does_not_read_a_verified_backup_again(
    world: World, h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await h.reconcile()
    await h.finish_task(VERIFIED)
    await h.reconcile()
    patches = len(world.patches)
    restarted = Harness(world, monkeypatch)
    assert await restarted.reconcile() == Result()
    assert restarted.started == [] and len(world.patches) == patches


async def test_a_cache_behind_this_replicas_write_starts_nothing(world: World, h: Harness) -> None:
    await h.reconcile()
    world.lagging = copy.deepcopy(world.objs)  # the cache stops here: Verifying
    await h.finish_task(VERIFIED)
    await h.reconcile()
    assert world.condition("Verified") == ("True", "BackupVerified")
    # The cache still shows Verifying, but the next pass reads what this replica wrote since:
    # no new verification, and no write from the old copy (which would only conflict).
    patches = len(world.patches)
    assert await h.reconcile() == Result()
    assert len(h.started) == 1 and len(world.patches) == patches
    world.lagging = None
    await h.reconcile()
    assert len(h.started) == 1


async def test_a_spec_edited_mid_verification_drops_the_stale_outcome(
    world: World, h: Harness
) -> None:
    await h.reconcile()
    world.put(
        ETCD_RESTORES,
        KEY,
        {**world.restore(), "metadata": {**world.restore()["metadata"], "generation": 2}},
    )
    await h.reconcile()  # still running: waited for
    await h.finish_task(BackupVerified("etcd-bucket", "k", 1, 0.1, generation=1))
    # The pass drops the outcome (generation 1) and verifies generation 2 at once.
    h.outcomes.clear()
    await h.reconcile()
    assert [j.generation for j in h.started] == [1, 2]
    assert world.condition("Verified") == ("Unknown", "Verifying")
    assert world.restore()["status"]["observedGeneration"] == 2


async def test_a_status_write_that_meets_a_newer_object_keeps_the_outcome(
    world: World, h: Harness
) -> None:
    await h.reconcile()
    await h.finish_task(VERIFIED)
    world.lagging = copy.deepcopy(world.objs)
    world.put(ETCD_RESTORES, KEY, world.restore())  # someone else wrote meanwhile
    assert await h.reconcile() == Result(requeue=True)
    assert h.tasks.get(TASK) is not None  # not forgotten
    world.lagging = None
    await h.reconcile()
    assert world.condition("Verified") == ("True", "BackupVerified")
    assert h.tasks.get(TASK) is None


async def test_a_deleted_or_foreign_restore_is_let_go(world: World, h: Harness) -> None:
    await h.reconcile()
    running = h.tasks.get(TASK)
    assert running is not None and running.running
    world.put(ETCD_RESTORES, KEY, restore_obj(annotations={SCOPE_ANNOTATION: "clusterwide"}))
    assert await h.reconcile() == Result()
    cancelled = h.tasks.get(TASK)
    assert cancelled is not None and cancelled.state is TaskState.CANCELLED
    assert h.started and not h.outcomes
    # Back in scope (or deleted and created again): the cancelled task is forgotten and a
    # new verification starts.
    world.put(ETCD_RESTORES, KEY, restore_obj())
    await h.reconcile()
    assert len(h.started) == 2
    del world.objs[(ETCD_RESTORES, KEY)]
    assert await h.reconcile() == Result()
    cancelled = h.tasks.get(TASK)
    assert cancelled is not None and cancelled.state is TaskState.CANCELLED


async def test_a_task_that_crashed_is_a_retried_failure(
    world: World, h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(job: VerifyJob) -> Outcome:
        raise RuntimeError("a bug")

    monkeypatch.setattr(reconciler_module, "verify_backup", broken)
    await h.reconcile()
    for _ in range(10):
        await asyncio.sleep(0)
    assert await h.reconcile() == Result(requeue_after=5.0)
    assert world.condition("Verified") == ("False", "S3Error")
    assert world.events[-1][2] == "RuntimeError: a bug"


async def test_a_restore_deleted_and_created_again_is_a_new_one(world: World, h: Harness) -> None:
    # The first one is found corrupt; the second is running when it is replaced in turn. No
    # pass sees the name free in between (the queue folds the deletion and the creation).
    await h.reconcile()
    await h.finish_task(VerifyFailed("BackupCorrupt", "bad", 1, terminal=True))
    await h.reconcile()
    assert world.condition("Failed") == ("True", "BackupCorrupt")

    world.put(ETCD_RESTORES, KEY, restore_obj(uid="uid-2"))
    await h.reconcile()
    assert len(h.started) == 2 and world.condition("Verified") == ("Unknown", "Verifying")
    second = h.tasks.get(task_key(KEY, "uid-2"))
    assert second is not None and second.running

    world.put(ETCD_RESTORES, KEY, restore_obj(uid="uid-3"))
    await h.reconcile()
    cancelled = h.tasks.get(task_key(KEY, "uid-2"))
    assert cancelled is not None and cancelled.state is TaskState.CANCELLED
    assert len(h.started) == 3 and [j.generation for j in h.started] == [1, 1, 1]
    await h.finish_task(VERIFIED)
    await h.reconcile()
    assert world.condition("Verified") == ("True", "BackupVerified")
