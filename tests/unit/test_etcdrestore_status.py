"""The restore's status (controller/etcdrestore/status.py) and what it reads
(controller/etcdrestore/observe.py): conditions, the generation hand-off rule, Events on
changes of reason only, the spec and Secret checks, the EtcdCluster's side of the hand-off."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from api import Condition, ConditionStatus, EtcdRestore, find_condition
from controller.common.resources import ETCD_CLUSTERS, SECRETS, Resource
from controller.etcdrestore.observe import ClusterView, cluster_view, inputs, restore_secrets
from controller.etcdrestore.outcome import BackupVerified, VerifyFailed
from controller.etcdrestore.planner import Memory
from controller.etcdrestore.reconciler import remember, wire_status
from controller.etcdrestore.status import (
    complete_status,
    condition_events,
    failed_status,
    not_verified_status,
    recorded_status,
    verifying_status,
    waiting_status,
)
from tests.seed import DELETE, RESTORE, load_seed, set_field

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 30, 12, 5, 0, tzinfo=UTC)
SOURCE = "s3://etcd-bucket/etcd.backup_v2_2019-10-11-08:53:40"
T, F, U = ConditionStatus.TRUE, ConditionStatus.FALSE, ConditionStatus.UNKNOWN
CREDENTIALS = b"[default]\naws_access_key_id = AKIDEXAMPLE1\naws_secret_access_key = s3cr3tkey\n"


def restore(generation: int = 1, **fields: Any) -> EtcdRestore:
    doc: dict[str, Any] = load_seed(RESTORE)
    set_field(doc, "metadata.namespace", "default")
    set_field(doc, "metadata.generation", generation)
    set_field(doc, "metadata.uid", "uid-1")
    for path, value in fields.items():
        set_field(doc, path.replace("__", "."), value)
    return EtcdRestore.model_validate(doc)


def cond(r: EtcdRestore | Any, type_: str) -> tuple[Any, ...] | None:
    status = r.status if isinstance(r, EtcdRestore) else r
    c = find_condition(status.conditions, type_)
    return None if c is None else (c.status, c.reason, c.message)


def with_status(r: EtcdRestore, status: Any) -> EtcdRestore:
    return r.model_copy(update={"status": status})


VERIFIED = BackupVerified("etcd-bucket", "etcd.backup_v2_2019-10-11-08:53:40", 4096, 1.25, 1)


# --- conditions ---------------------------------------------------------------------------------
def test_verifying() -> None:
    s = verifying_status(restore(), NOW)
    assert s.observed_generation == 1 and not s.succeeded and s.reason is None
    assert cond(s, "Verified") == (U, "Verifying", f"reading {SOURCE} and checking its SHA-256")


def test_verified_names_the_object_and_its_size() -> None:
    s = recorded_status(restore(), VERIFIED, NOW)
    assert s.observed_generation == 1 and not s.succeeded
    assert cond(s, "Verified") == (
        T,
        "BackupVerified",
        f"{SOURCE}: 4096 bytes, SHA-256 verified in 1.2s",
    )
    assert cond(s, "Failed") is None and cond(s, "Complete") is None


def test_a_retried_failure_is_verified_false_not_failed() -> None:
    outcome = VerifyFailed("S3Unreachable", "get etcd-bucket/k: no answer", 1)
    s = recorded_status(restore(), outcome, NOW)
    assert cond(s, "Verified") == (F, "S3Unreachable", "get etcd-bucket/k: no answer")
    assert cond(s, "Failed") is None and s.reason is None and not s.succeeded


def test_a_corrupt_backup_fails_the_restore() -> None:
    outcome = VerifyFailed("BackupCorrupt", f"{SOURCE} is not a whole snapshot", 1, terminal=True)
    s = recorded_status(restore(), outcome, NOW)
    assert cond(s, "Failed") == (T, "BackupCorrupt", f"{SOURCE} is not a whole snapshot")
    assert cond(s, "Verified") == (F, "BackupCorrupt", f"{SOURCE} is not a whole snapshot")
    assert not s.succeeded and s.reason == f"{SOURCE} is not a whole snapshot"


def test_waiting_for_the_cluster_keeps_verified() -> None:
    verified = with_status(restore(), recorded_status(restore(), VERIFIED, NOW))
    s = waiting_status(verified, "Restoring", "EtcdCluster example is restoring: Seeding", LATER)
    assert cond(s, "Verified") == cond(verified, "Verified")
    assert cond(s, "Complete") == (F, "Restoring", "EtcdCluster example is restoring: Seeding")


def test_complete() -> None:
    verified = with_status(restore(), recorded_status(restore(), VERIFIED, NOW))
    waiting = with_status(verified, waiting_status(verified, "WaitingForCluster", "w", NOW))
    view = ClusterView("example", "uid-1", SOURCE, "2026-11-30T12:04:00Z")
    s = complete_status(waiting, view, LATER)
    assert s.succeeded and s.reason is None
    assert cond(s, "Complete") == (
        T,
        "Restored",
        f"EtcdCluster example was seeded from {SOURCE} (serving since 2026-11-30T12:04:00Z)",
    )
    assert cond(s, "Verified") == cond(verified, "Verified")
    c = find_condition(s.conditions, "Complete")
    assert c is not None and c.last_transition_time == LATER


def test_complete_without_details() -> None:
    s = complete_status(restore(), ClusterView("example", "uid-1"), LATER)
    assert cond(s, "Complete") == (T, "Restored", "EtcdCluster example was seeded from the backup")


# --- the hand-off rule: observedGeneration never vouches for a Verified of an older spec -------
def test_a_new_generation_drops_what_spoke_of_the_old_one() -> None:
    old = restore(generation=1)
    old_status = failed_status(old, "BackupCorrupt", "bad", NOW)
    old_status.conditions.append(Condition(type="Complete", status=F, reason="WaitingForCluster"))
    newer = with_status(restore(generation=2), old_status)
    s = verifying_status(newer, LATER)
    assert s.observed_generation == 2 and s.reason is None
    assert [c.type for c in s.conditions] == ["Verified"] and s.conditions[0].status == U


def test_a_verified_true_of_generation_1_never_carries_generation_2() -> None:
    verified = with_status(restore(1), recorded_status(restore(1), VERIFIED, NOW))
    edited = with_status(restore(2), verified.status)
    for s in (
        not_verified_status(edited, "SecretNotFound", "w", LATER),
        waiting_status(edited, "WaitingForCluster", "w", LATER),
        failed_status(edited, "InvalidSpec", "x", LATER),
    ):
        assert s.observed_generation == 2
        condition = find_condition(s.conditions, "Verified")
        assert condition is None or condition.status != T


def test_the_same_report_twice_writes_the_same_status() -> None:
    r = restore()
    first = not_verified_status(r, "S3Unreachable", "no answer", NOW)
    again = not_verified_status(with_status(r, first), "S3Unreachable", "no answer", LATER)
    assert wire_status(first) == wire_status(again)
    moved = not_verified_status(with_status(r, first), "S3Unreachable", "other words", LATER)
    c = find_condition(moved.conditions, "Verified")
    assert c is not None and c.last_transition_time == NOW and c.last_update_time == LATER


def test_wire_status_removes_what_is_gone() -> None:
    body = wire_status(verifying_status(restore(), NOW))
    assert body["reason"] is None and body["observedGeneration"] == 1
    assert body["conditions"] == [
        {
            "type": "Verified",
            "status": "Unknown",
            "reason": "Verifying",
            "message": f"reading {SOURCE} and checking its SHA-256",
            "lastUpdateTime": "2026-11-30T12:00:00Z",
            "lastTransitionTime": "2026-11-30T12:00:00Z",
        }
    ]


# --- events -------------------------------------------------------------------------------------
def test_events_on_changes_of_reason_not_of_message() -> None:
    r = restore()
    unreachable = not_verified_status(r, "S3Unreachable", "no answer", NOW)
    assert condition_events(r.status, unreachable) == [("Warning", "S3Unreachable", "no answer")]
    retried = not_verified_status(with_status(r, unreachable), "S3Unreachable", "again", LATER)
    assert condition_events(unreachable, retried) == []
    denied = not_verified_status(with_status(r, unreachable), "S3AccessDenied", "denied", LATER)
    assert condition_events(unreachable, denied) == [("Warning", "S3AccessDenied", "denied")]


def test_normal_events_for_progress_and_one_per_reason() -> None:
    r = restore()
    verifying = verifying_status(r, NOW)
    assert condition_events(r.status, verifying) == [
        ("Normal", "Verifying", f"reading {SOURCE} and checking its SHA-256")
    ]
    verified = recorded_status(with_status(r, verifying), VERIFIED, NOW)
    assert [e[:2] for e in condition_events(verifying, verified)] == [("Normal", "BackupVerified")]
    corrupt = failed_status(with_status(r, verifying), "BackupCorrupt", "bad", NOW)
    assert condition_events(verifying, corrupt) == [("Warning", "BackupCorrupt", "bad")]
    waiting = waiting_status(with_status(r, verified), "WaitingForCluster", "w", NOW)
    assert condition_events(verified, waiting) == [("Normal", "WaitingForCluster", "w")]
    gone = waiting_status(with_status(r, waiting), "ClusterNotFound", "gone", NOW)
    assert condition_events(waiting, gone) == [("Warning", "ClusterNotFound", "gone")]


# --- memory -------------------------------------------------------------------------------------
def test_memory_after_each_outcome() -> None:
    start = Memory(failures=2, last_failure=NOW, task_inputs="1/7", failed_inputs="1/6")
    ok = remember(start, VERIFIED, LATER)
    assert (ok.verified_generation, ok.failures, ok.last_failure, ok.failed_inputs) == (
        1,
        0,
        None,
        None,
    )
    retry = remember(start, VerifyFailed("S3Unreachable", "x", 1), LATER)
    assert (retry.failures, retry.last_failure, retry.failed_inputs) == (3, LATER, "1/7")
    final = remember(start, VerifyFailed("BackupCorrupt", "x", 1, terminal=True), LATER)
    assert final.failed_generation == 1 and final.failures == 2


# --- inputs: the spec and the Secret ------------------------------------------------------------
class _Cache:
    def __init__(self, objs: dict[tuple[Resource, str], dict[str, Any]]):
        self.objs = objs

    def get(self, res: Resource, key: str) -> dict[str, Any] | None:
        return self.objs.get((res, key))


def fake_cache(objs: dict[tuple[Resource, str], dict[str, Any]]) -> Any:
    """The cache as observe reads it: objects by kind and namespace/name."""
    return _Cache(objs)


def secret(files: dict[str, bytes], rv: str = "7") -> dict[str, Any]:
    return {
        "metadata": {"name": "aws", "namespace": "default", "resourceVersion": rv},
        "data": {k: base64.b64encode(v).decode() for k, v in files.items()},
    }


def test_the_seed_restore_becomes_a_job() -> None:
    cache = fake_cache({(SECRETS, "default/aws"): secret({"credentials": CREDENTIALS})})
    found = inputs(restore(generation=3), cache)
    job = found.job
    assert found.problem is None and found.waiting is None and found.version == "3/7"
    assert job is not None
    assert (job.bucket, job.key, job.generation) == (
        "etcd-bucket",
        "etcd.backup_v2_2019-10-11-08:53:40",
        3,
    )
    assert (job.s3.endpoint, job.s3.force_path_style) == ("http://xx.xx.xx.cn", True)
    assert job.s3.access_key_id == "AKIDEXAMPLE1" and "s3cr3tkey" not in repr(job)
    assert job.source == SOURCE


@pytest.mark.parametrize("kind", ["ABS", "GCS", "OSS"])
def test_other_storage_types_are_not_supported(kind: str) -> None:
    source = {"path": "c/k", "absSecret": "s", "ossSecret": "s"}
    fields: dict[str, Any] = {"spec__backupStorageType": kind, f"spec__{kind.lower()}": source}
    r = restore(**fields)
    found = inputs(r, fake_cache({}))
    assert found.problem == (
        "StorageTypeNotSupported",
        f"backupStorageType {kind} is not supported yet",
    )


def test_no_aws_secret_is_an_invalid_spec() -> None:
    found = inputs(restore(spec__s3__awsSecret=DELETE), fake_cache({}))
    assert found.problem == ("InvalidSpec", "spec.s3.awsSecret is required")


def test_a_missing_secret_is_waited_for() -> None:
    found = inputs(restore(), fake_cache({}))
    assert found.job is None and found.problem is None
    assert found.waiting == ("SecretNotFound", "waiting for Secret aws in the restore's namespace")
    assert found.version == "1/None"


def test_a_malformed_secret_is_waited_for_without_its_data() -> None:
    bad = secret({"credentials": b"[default]\naws_access_key_id = AKIDEXAMPLE1\n"}, rv="9")
    found = inputs(restore(), fake_cache({(SECRETS, "default/aws"): bad}))
    assert found.waiting is not None and found.waiting[0] == "InvalidAWSSecret"
    assert "AKIDEXAMPLE1" not in found.waiting[1] and found.version == "1/9"


def test_restore_secrets() -> None:
    assert restore_secrets(load_seed(RESTORE)) == ["aws"]
    assert restore_secrets({"spec": {}}) == [None]


# --- the EtcdCluster's side ---------------------------------------------------------------------
def test_cluster_view() -> None:
    cluster: dict[str, Any] = {
        "metadata": {"name": "example", "namespace": "default"},
        "status": {
            "phase": "Recovering",
            "restoredFrom": {
                "source": SOURCE,
                "restoreName": "example",
                "restoreUid": "uid-0",
                "completedAt": "2026-11-30T11:00:00Z",
            },
            "operation": {
                "type": "Restore",
                "phase": "Seeding",
                "message": "example-x restoring",
                "inputs": {"restoreUID": "uid-1"},
            },
        },
    }
    cache = fake_cache({(ETCD_CLUSTERS, "default/example"): cluster})
    assert cluster_view(restore(), cache) == ClusterView(
        name="example",
        restored_uid="uid-0",
        restored_source=SOURCE,
        completed_at="2026-11-30T11:00:00Z",
        operation_phase="Seeding",
        operation_message="example-x restoring",
        operation_uid="uid-1",
    )
    cannot = "example-x: fetch-backup: CrashLoopBackOff: fetch: S3Unreachable: no answer"
    cluster["status"]["conditions"] = [
        {"type": "Degraded", "status": "True", "reason": "MemberCannotStart", "message": cannot}
    ]
    view = cluster_view(restore(), cache)
    assert view is not None and view.cannot_start == cannot
    cluster["status"]["conditions"][0]["reason"] = "MemberUnhealthy"  # not the seed's start
    view = cluster_view(restore(), cache)
    assert view is not None and view.cannot_start is None
    cluster["status"]["conditions"][0].update(reason="MemberCannotStart", status="False")
    view = cluster_view(restore(), cache)
    assert view is not None and view.cannot_start is None
    cluster["status"]["conditions"][0]["status"] = "True"
    cluster["status"]["operation"]["type"] = "QuorumRecovery"  # no restore: nothing of it
    view = cluster_view(restore(), cache)
    assert view is not None and view.operation_phase is None and view.operation_uid is None
    assert view.cannot_start is None
    assert cluster_view(restore(), fake_cache({})) is None
    fresh = {"metadata": {"name": "example"}}
    assert cluster_view(restore(), fake_cache({(ETCD_CLUSTERS, "default/example"): fresh})) == (
        ClusterView("example")
    )
    odd = {"metadata": {"name": "example"}, "status": {"restoredFrom": {"restoreUid": "u"}}}
    assert cluster_view(restore(), fake_cache({(ETCD_CLUSTERS, "default/example"): odd})) == (
        ClusterView("example")
    )
