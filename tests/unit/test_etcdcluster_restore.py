"""Restoring a cluster from a backup: started only by a verified EtcdRestore of this cluster,
recorded before anything is deleted, every member replaced by a seed restored on a fresh
volume, the seed restarted as an ordinary member, then status.restoredFrom — never twice."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api import Operation, RestoredFrom
from controller.etcdcluster import naming, resources
from controller.etcdcluster.actions import (
    AllMembersLost,
    CreateVolume,
    DeleteStrayPod,
    DeleteStrayVolume,
    FinishOperation,
    RecordOperation,
    RestartMember,
    SeedFromBackup,
    StopMember,
    Wait,
    WaitReason,
)
from controller.etcdcluster.backups import RestoreRequest, newest_backup, pending_restore
from controller.etcdcluster.observe import EtcdView, Observed, pod_view
from controller.etcdcluster.planner import plan
from controller.etcdcluster.recovery import DETECTED, QUORUM_RECOVERY
from controller.etcdcluster.resources import BackupSource
from controller.etcdcluster.restore import REPLACING, RESTARTING, RESTORE, SEEDING
from controller.etcdcluster.status import desired_status, status_events
from tests.unit.test_etcdcluster_planner import A, B, C, cluster, member, observed, peer, pod

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
UID = "0b6d5f0e-6f1a-4a4e-9d1c-0f3c2a1b9e77"
SOURCE = BackupSource("backups/example", "http://s3.local:7070", True, "aws")
REQUEST = RestoreRequest(name="example", uid=UID, source=SOURCE)
SEED = naming.restore_seed_name("example", UID)
RUNNING = observed(pods=(pod(A), pod(B), pod(C)), members=(member(A), member(B), member(C)))


def restore_obj(
    generation: int = 2, observed_generation: int = 2, verified: str = "True", **status: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "etcd.database.coreos.com/v1beta2",
        "kind": "EtcdRestore",
        "metadata": {
            "name": "example",
            "namespace": "default",
            "uid": UID,
            "generation": generation,
        },
        "spec": {
            "etcdCluster": {"name": "example"},
            "backupStorageType": "S3",
            "s3": {
                "path": "backups/example",
                "awsSecret": "aws",
                "endpoint": "http://s3.local:7070",
                "forcePathStyle": True,
            },
        },
        "status": {
            "observedGeneration": observed_generation,
            "conditions": [{"type": "Verified", "status": verified, "reason": "BackupVerified"}],
            **status,
        },
    }


def test_a_verified_restore_of_the_current_spec_is_pending() -> None:
    assert pending_restore(cluster(), restore_obj()) == REQUEST


@pytest.mark.parametrize(
    "obj, restored_uid",
    [
        (None, None),
        (restore_obj(verified="False"), None),
        (restore_obj(generation=3), None),  # verified for an older spec
        (restore_obj(succeeded=True), None),
        (restore_obj(), UID),  # this cluster was already restored by it
    ],
    ids=["no restore", "not verified", "stale verification", "succeeded", "done already"],
)
def test_no_pending_restore(obj: dict[str, Any] | None, restored_uid: str | None) -> None:
    target = cluster()
    if restored_uid:
        target.status.restored_from = RestoredFrom(source="s3://x", restore_uid=restored_uid)
    assert pending_restore(target, obj) is None


def with_op(obs: Observed, phase: str, type_: str = RESTORE) -> Observed:
    asked = plan(replace(obs, restore=REQUEST), NOW)
    assert isinstance(asked, RecordOperation)
    op = asked.operation if type_ == RESTORE else Operation(type=type_, started_at=NOW)
    target = obs.cluster.model_copy(deep=True)
    target.status.operation = op.model_copy(update={"phase": phase})
    return replace(obs, cluster=target, restore=None)


def test_the_decision_is_recorded_before_anything_is_deleted() -> None:
    got = plan(replace(RUNNING, restore=REQUEST), NOW)
    assert isinstance(got, RecordOperation)
    op = got.operation
    assert (op.type, op.phase, op.started_at) == (RESTORE, REPLACING, NOW)
    assert op.inputs == {
        "restore": "example",
        "restoreUID": UID,
        "seed": SEED,
        "path": "backups/example",
        "endpoint": "http://s3.local:7070",
        "forcePathStyle": "true",
        "awsSecret": "aws",
    }


def test_a_restore_supersedes_a_quorum_recovery_but_not_itself() -> None:
    recovering = with_op(RUNNING, DETECTED, type_=QUORUM_RECOVERY)
    assert isinstance(plan(replace(recovering, restore=REQUEST), NOW), RecordOperation)
    restoring = with_op(RUNNING, REPLACING)
    assert plan(replace(restoring, restore=REQUEST), NOW) == DeleteStrayPod(A)


def seed_pod(serving: bool = True, restoring: bool = True, **fields: Any) -> Any:
    return replace(pod(SEED, ready=serving), restore_seed=restoring, **fields)


def alone(serving: bool = True) -> EtcdView:
    view = member(A)
    m = replace(view.member, name=SEED, peer_urls=(peer(SEED),))
    return EtcdView((replace(view, member=m, pod=SEED, status=view.status if serving else None),))


CASES: list[tuple[str, Observed, Any]] = [
    ("replacing: member pods go first", with_op(RUNNING, REPLACING), DeleteStrayPod(A)),
    (
        "replacing: waits for terminating pods before their volumes",
        with_op(replace(RUNNING, pods=(pod(A, terminating=True),), etcd=None), REPLACING),
        Wait(WaitReason.RESTORING, f"pods terminating: {A}"),
    ),
    (
        "replacing: then every volume",
        with_op(replace(RUNNING, pods=(), etcd=None), REPLACING),
        DeleteStrayVolume(A),
    ),
    (
        "seeding: the seed on a fresh volume",
        with_op(replace(RUNNING, pods=(), pvcs=(), etcd=None), SEEDING),
        SeedFromBackup(SEED, SOURCE),
    ),
    (
        "seeding: a stray pod goes",
        with_op(replace(RUNNING, pods=(pod(B),), pvcs=(), etcd=None), SEEDING),
        DeleteStrayPod(B),
    ),
    (
        "seeding: a seed volume without its pod is half-restored: start again",
        with_op(replace(RUNNING, pods=(), pvcs=(SEED,), etcd=None), SEEDING),
        DeleteStrayVolume(SEED),
    ),
    (
        "seeding: the pod first, then its volume",
        with_op(replace(RUNNING, pods=(seed_pod(False),), pvcs=(), etcd=None), SEEDING),
        CreateVolume(SEED),
    ),
    (
        "seeding: a seed that cannot fetch is reported",
        with_op(
            replace(
                RUNNING,
                pods=(seed_pod(False, stuck="fetch-backup: CrashLoopBackOff"),),
                pvcs=(SEED,),
                etcd=None,
            ),
            SEEDING,
        ),
        Wait(WaitReason.MEMBER_CANNOT_START, f"{SEED}: fetch-backup: CrashLoopBackOff"),
    ),
    (
        "seeding: restoring",
        with_op(replace(RUNNING, pods=(seed_pod(False),), pvcs=(SEED,), etcd=None), SEEDING),
        Wait(WaitReason.RESTORING, f"{SEED} is restoring s3://backups/example"),
    ),
    (
        "seeding: a failed seed pod goes (and its volume with it next)",
        with_op(
            replace(RUNNING, pods=(seed_pod(phase="Failed"),), pvcs=(SEED,), etcd=None), SEEDING
        ),
        DeleteStrayPod(SEED),
    ),
    (
        "restarting: the restoring pod is stopped",
        with_op(replace(RUNNING, pods=(seed_pod(),), pvcs=(SEED,), etcd=alone()), RESTARTING),
        StopMember(SEED),
    ),
    (
        "restarting: recreated as an ordinary member on its volume",
        with_op(replace(RUNNING, pods=(), pvcs=(SEED,), etcd=None), RESTARTING),
        RestartMember(SEED, ((SEED, peer(SEED)),)),
    ),
    (
        "restarting: starting",
        with_op(
            replace(RUNNING, pods=(seed_pod(False, False),), pvcs=(SEED,), etcd=None), RESTARTING
        ),
        Wait(WaitReason.RESTORING, f"{SEED} is restarting on the restored data"),
    ),
]


CASES += [
    (
        "seeding: the seed pod terminating",
        with_op(replace(RUNNING, pods=(seed_pod(terminating=True),), pvcs=(SEED,)), SEEDING),
        Wait(WaitReason.RESTORING, f"pod {SEED} is terminating"),
    ),
    (
        "restarting: the seed pod terminating",
        with_op(replace(RUNNING, pods=(seed_pod(terminating=True),), pvcs=(SEED,)), RESTARTING),
        Wait(WaitReason.RESTORING, f"pod {SEED} is terminating"),
    ),
    (
        "an unknown phase is reported, nothing done",
        with_op(RUNNING, "Teleporting"),
        Wait(WaitReason.UNKNOWN_OPERATION, "unknown Restore phase Teleporting"),
    ),
]


@pytest.mark.parametrize("obs, want", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_restore_steps(obs: Observed, want: Any) -> None:
    assert plan(obs, NOW) == want


def test_with_everything_gone_the_seeding_is_recorded() -> None:
    obs = with_op(replace(RUNNING, pods=(), pvcs=(), etcd=None), REPLACING)
    got = plan(obs, NOW)
    assert isinstance(got, RecordOperation)
    assert got.operation == obs.cluster.status.operation.model_copy(update={"phase": SEEDING})  # type: ignore[union-attr]
    assert got.event == "every member removed; seeding from s3://backups/example"


def test_the_seed_serving_alone_moves_on_to_restarting_it() -> None:
    obs = with_op(replace(RUNNING, pods=(seed_pod(),), pvcs=(SEED,), etcd=alone()), SEEDING)
    got = plan(obs, NOW)
    assert isinstance(got, RecordOperation)
    assert got.operation == obs.cluster.status.operation.model_copy(update={"phase": RESTARTING})  # type: ignore[union-attr]
    assert got.event == f"{SEED} serves the restored data; restarting it"


def test_the_restarted_seed_serving_finishes_with_restored_from() -> None:
    obs = with_op(
        replace(RUNNING, pods=(seed_pod(restoring=False),), pvcs=(SEED,), etcd=alone()),
        RESTARTING,
    )
    got = plan(obs, NOW)
    want = RestoredFrom(
        source="s3://backups/example", restore_name="example", restore_uid=UID, completed_at=NOW
    )
    assert got == FinishOperation("restored from s3://backups/example; growing back to size", want)
    status = desired_status(obs, got, obs.cluster.status, NOW)
    assert status.operation is None and status.restored_from == want
    events = status_events(obs.cluster.status, status, got)
    assert ("Normal", "RestoreFinished", got.message) in events


def test_a_restore_shows_recovering_with_progressing_restoring() -> None:
    obs = with_op(RUNNING, REPLACING)
    previous = obs.cluster.status.model_copy(update={"phase": "Running"})
    status = desired_status(obs, plan(obs, NOW), previous, NOW)
    progressing = next(c for c in status.conditions if c.type == "Progressing")
    assert status.phase == "Recovering" and progressing.reason == "Restoring"


def test_the_seed_pod_fetches_then_restores_into_a_new_data_dir() -> None:
    built = resources.restore_seed_pod(cluster(), SEED, SOURCE, "localhost/etcd-operator:dev")
    spec = built["spec"]
    assert built["metadata"]["annotations"][naming.RESTORE_SEED_ANNOTATION] == "true"
    dns, fetch, restore = spec["initContainers"]
    assert dns["name"] == resources.DNS_CONTAINER
    assert fetch["image"] == "localhost/etcd-operator:dev"
    assert fetch["command"] == [
        "python", "-m", "controller.etcdrestore.fetch", "--path", "backups/example",
        "--out", resources.SNAPSHOT_FILE, "--endpoint", "http://s3.local:7070",
        "--force-path-style", "--aws-dir", resources.AWS_DIR,
    ]  # fmt: skip
    assert restore["image"] == cluster().spec.image
    assert restore["command"][:4] == [
        "/usr/local/bin/etcdutl", "snapshot", "restore", resources.SNAPSHOT_FILE
    ]  # fmt: skip
    assert f"--data-dir={resources.DATA_DIR}" in restore["command"]
    assert f"--initial-cluster={SEED}={peer(SEED)}" in restore["command"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes[resources.AWS_VOLUME]["secret"]["secretName"] == "aws"
    assert volumes[resources.SCRATCH_VOLUME] == {"name": "restore-scratch", "emptyDir": {}}
    assert volumes[resources.DATA_VOLUME]["persistentVolumeClaim"]["claimName"] == SEED
    # The same template as an ordinary member: not rolled for being a seed.
    ordinary = resources.member_pod(cluster(), SEED, ((SEED, peer(SEED)),), "new")
    key = naming.TEMPLATE_HASH_ANNOTATION
    assert built["metadata"]["annotations"][key] == ordinary["metadata"]["annotations"][key]
    # Why a fetch or a restore fails reaches the status (the end of its log).
    assert fetch["terminationMessagePolicy"] == restore["terminationMessagePolicy"]
    assert fetch["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_a_seed_that_cannot_start_says_why_in_the_failing_programs_own_words() -> None:
    crashing = {
        "name": "fetch-backup",
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s"}},
        "lastState": {
            "terminated": {
                "exitCode": 1,
                "message": "starting\nfetch: S3Unreachable: get b/k: no answer\n",
            }
        },
    }
    pod_obj = {"metadata": {"name": SEED}, "status": {"initContainerStatuses": [crashing]}}
    assert pod_view(pod_obj).stuck == (
        "fetch-backup: CrashLoopBackOff: fetch: S3Unreachable: get b/k: no answer"
    )
    del crashing["lastState"]  # no termination message: the kubelet's words
    assert pod_view(pod_obj).stuck == "fetch-backup: CrashLoopBackOff: back-off 20s"


# --- every member lost with its data: the newest backup of the cluster -------------------
def backup_obj(name: str, endpoint: str, revision: int, path: str, taken: str) -> dict[str, Any]:
    return {
        "apiVersion": "etcd.database.coreos.com/v1beta2",
        "kind": "EtcdBackup",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "etcdEndpoints": [endpoint],
            "storageType": "S3",
            "s3": {"path": "backups/etcd.backup", "awsSecret": "aws", "forcePathStyle": True},
        },
        "status": {
            "succeeded": True,
            "etcdRevision": revision,
            "lastSuccessDate": taken,
            "lastBackupPath": path,
        },
    }


CLIENT = "https://example-client.default.svc:2379"
BACKUPS = [
    backup_obj("old", CLIENT, 90, "backups/a_v90", "2026-11-30T10:00:00Z"),
    backup_obj("new", "example-client:2379", 120, "backups/b_v120", "2026-11-30T09:00:00Z"),
    backup_obj("tie", CLIENT, 120, "backups/c_v120", "2026-11-30T11:00:00Z"),
    backup_obj("other", "https://other-client.default.svc:2379", 500, "o", "2026-11-30T12:00:00Z"),
    backup_obj(
        "elsewhere", "https://example-client.prod.svc:2379", 600, "p", "2026-11-30T12:00:00Z"
    ),
    backup_obj("member", f"https://{A}.example.default.svc:2379", 110, "m", "2026-11-30T12:00:00Z"),
]


def test_the_newest_backup_of_this_cluster_by_revision_then_time() -> None:
    chosen = newest_backup(cluster(), BACKUPS)
    assert chosen is not None
    assert (chosen.backup, chosen.revision) == ("tie", 120)
    assert chosen.source == BackupSource("backups/c_v120", None, True, "aws")
    assert newest_backup(cluster(), BACKUPS[3:5]) is None  # other clusters' only


def test_a_member_endpoint_names_the_cluster_too() -> None:
    chosen = newest_backup(cluster(), BACKUPS[-1:])
    assert chosen is not None and chosen.backup == "member"


def test_a_backup_without_a_success_is_not_a_choice() -> None:
    failed = backup_obj("failed", CLIENT, 1, "x", "2026-11-30T10:00:00Z")
    failed["status"] = {"succeeded": False, "Reason": "S3AccessDenied"}
    assert newest_backup(cluster(), [failed]) is None


LOST = observed(pods=(), pvcs=(), fields={"status.members.ready": [A, B, C]})


def test_a_cluster_that_lost_everything_restores_its_newest_backup() -> None:
    got = plan(replace(LOST, backups=tuple(BACKUPS)), NOW)
    assert isinstance(got, RecordOperation)
    op = got.operation
    assert (op.type, op.phase) == (RESTORE, REPLACING)
    assert op.inputs["path"] == "backups/c_v120"
    assert (op.inputs["backup"], op.inputs["revision"]) == ("tie", "120")
    assert "revision 120" in got.event
    assert naming.is_member_name("example", op.inputs["seed"])


def test_without_a_backup_it_says_every_member_was_lost() -> None:
    assert isinstance(plan(LOST, NOW), AllMembersLost)


def test_a_recovery_whose_survivors_went_too_restores_the_backup_or_ends() -> None:
    op = Operation(type=QUORUM_RECOVERY, phase=DETECTED, started_at=NOW, inputs={"lost": "b,c"})
    gone = LOST.cluster.model_copy(deep=True)
    gone.status.operation = op
    later = NOW + timedelta(minutes=5)
    got = plan(replace(LOST, cluster=gone, backups=tuple(BACKUPS)), later)
    assert isinstance(got, RecordOperation) and got.operation.type == RESTORE
    assert isinstance(plan(replace(LOST, cluster=gone), later), FinishOperation)
