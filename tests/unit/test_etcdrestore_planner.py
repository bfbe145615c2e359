"""The EtcdRestore planner's table: observed restore, cluster, task, memory and time → the one
action.

Restores are the seed's restore_cr.yaml (cluster `example`, S3, Secret `aws`). The rules under
test: a restore is one-shot (Complete is final); the cluster naming this restore's uid in
status.restoredFrom finishes it; a verified backup is never read again for the same
generation (the status is durable, memory covers a cache lagging behind this replica's own
write); a corrupt backup fails the restore for its generation; the cluster and the Secret
are waited for; S3 failures back off, and the user's fix is tried at once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api import Condition, ConditionStatus, EtcdRestore
from controller.etcdrestore.observe import ClusterView
from controller.etcdrestore.outcome import BackupVerified, VerifyFailed
from controller.etcdrestore.planner import (
    Action,
    AwaitCluster,
    Done,
    Ended,
    Fail,
    Finish,
    Memory,
    NotVerified,
    Observed,
    Record,
    Running,
    StartVerify,
    WaitForTask,
    WaitUntil,
    backoff,
    plan,
)
from tests.seed import RESTORE, load_seed, set_field

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
UID = "0a1b2c3d-uid-of-this-restore"
SOURCE = "s3://etcd-bucket/etcd.backup_v2_2019-10-11-08:53:40"


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def later(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def restore(
    generation: int = 1,
    observed_generation: int | None = None,
    succeeded: bool = False,
    **conditions: ConditionStatus,
) -> EtcdRestore:
    doc: dict[str, Any] = load_seed(RESTORE)
    set_field(doc, "metadata.namespace", "default")
    set_field(doc, "metadata.generation", generation)
    set_field(doc, "metadata.uid", UID)
    obj = EtcdRestore.model_validate(doc)
    obj.status.observed_generation = observed_generation
    obj.status.succeeded = succeeded
    for type_, status in conditions.items():
        obj.status.conditions.append(Condition(type=type_, status=status, reason="R"))
    return obj


T, F = ConditionStatus.TRUE, ConditionStatus.FALSE
CLUSTER = ClusterView("example")
SEEDED = ClusterView(
    "example", restored_uid=UID, restored_source=SOURCE, completed_at="2026-11-30T11:59:00Z"
)
EARLIER = ClusterView("example", restored_uid="uid-of-an-earlier-restore", restored_source="x")
VERIFIED = restore(observed_generation=1, Verified=T)
VERIFIED_OUTCOME = BackupVerified("etcd-bucket", "k", 100, 0.5, generation=1)
CORRUPT = VerifyFailed("BackupCorrupt", "damaged", generation=1, terminal=True)
UNREACHABLE = VerifyFailed("S3Unreachable", "no answer", generation=1)
WAITING = (
    f"{SOURCE} verified; waiting for the EtcdCluster reconciler to replace the members of example"
)
NOT_FOUND = "EtcdCluster example not found in namespace default"

CASES: dict[str, tuple[Observed, Action]] = {
    # --- one-shot: complete is final ---
    "a complete restore does nothing": (
        Observed(restore(succeeded=True, Complete=T), cluster=SEEDED),
        Done(),
    ),
    "... even when the spec changed": (
        Observed(restore(generation=3, observed_generation=1, Complete=T), cluster=CLUSTER),
        Done(),
    ),
    "... or the cluster is gone": (Observed(restore(Complete=T)), Done()),
    "succeeded alone is complete": (Observed(restore(succeeded=True), cluster=CLUSTER), Done()),
    "complete in this replica's memory (the cache lags) does nothing": (
        Observed(VERIFIED, cluster=SEEDED, memory=Memory(completed=True)),
        Done(),
    ),
    # --- the cluster names this restore: finish ---
    "the cluster seeded by this restore finishes it": (
        Observed(VERIFIED, cluster=SEEDED),
        Finish(SEEDED),
    ),
    "... before recording a task that ended": (
        Observed(VERIFIED, cluster=SEEDED, task=Ended(VERIFIED_OUTCOME)),
        Finish(SEEDED),
    ),
    "... whatever the restore's own status says": (
        Observed(restore(generation=2, observed_generation=1, Verified=T), cluster=SEEDED),
        Finish(SEEDED),
    ),
    "a cluster seeded by an earlier restore of the same name does not": (
        Observed(VERIFIED, cluster=EARLIER),
        AwaitCluster("WaitingForCluster", WAITING),
    ),
    # --- tasks ---
    "a verification that ended is recorded": (
        Observed(restore(), cluster=CLUSTER, task=Ended(VERIFIED_OUTCOME)),
        Record(VERIFIED_OUTCOME),
    ),
    "a failure is recorded": (
        Observed(restore(), cluster=CLUSTER, task=Ended(UNREACHABLE)),
        Record(UNREACHABLE),
    ),
    "a cancelled task is only forgotten": (
        Observed(restore(), cluster=CLUSTER, task=Ended(None)),
        Record(None),
    ),
    "an ended task is recorded before a spec problem is reported": (
        Observed(restore(), task=Ended(CORRUPT), problem=("InvalidSpec", "x")),
        Record(CORRUPT),
    ),
    "a running verification is waited for": (
        Observed(restore(), cluster=CLUSTER, task=Running()),
        WaitForTask(),
    ),
    "... even when the cluster or the Secret went away meanwhile": (
        Observed(restore(), task=Running(), waiting=("SecretNotFound", "w")),
        WaitForTask(),
    ),
    # --- specs that can never work fail ---
    "an unsupported storage type fails": (
        Observed(restore(), cluster=CLUSTER, problem=("StorageTypeNotSupported", "ABS")),
        Fail("StorageTypeNotSupported", "ABS"),
    ),
    "... before the cluster is looked for": (
        Observed(restore(), problem=("InvalidSpec", "no awsSecret")),
        Fail("InvalidSpec", "no awsSecret"),
    ),
    # --- failed for this generation: terminal ---
    "a corrupt backup is final for its generation": (
        Observed(restore(observed_generation=1, Failed=T, Verified=F), cluster=CLUSTER),
        Done(),
    ),
    "... also when only this replica knows yet": (
        Observed(restore(), cluster=CLUSTER, memory=Memory(failed_generation=1)),
        Done(),
    ),
    "... until the spec changes": (
        Observed(restore(generation=2, observed_generation=1, Failed=T), cluster=CLUSTER),
        StartVerify(announce=True),
    ),
    "Failed=False is not failed": (
        Observed(restore(observed_generation=1, Failed=F), cluster=CLUSTER),
        StartVerify(announce=True),
    ),
    # --- verified for this generation: never read again, wait for the cluster ---
    "verified: wait for the EtcdCluster reconciler": (
        Observed(VERIFIED, cluster=CLUSTER),
        AwaitCluster("WaitingForCluster", WAITING),
    ),
    "verified in memory only (the cache lags): the same": (
        Observed(restore(), cluster=CLUSTER, memory=Memory(verified_generation=1)),
        AwaitCluster("WaitingForCluster", WAITING),
    ),
    "verified, and an operator restart (no memory) does not read it again": (
        Observed(VERIFIED, cluster=CLUSTER, memory=Memory()),
        AwaitCluster("WaitingForCluster", WAITING),
    ),
    "verified, and the Secret gone since: still no new read": (
        Observed(VERIFIED, cluster=CLUSTER, waiting=("SecretNotFound", "w")),
        AwaitCluster("WaitingForCluster", WAITING),
    ),
    "the cluster's Restore operation is reported": (
        Observed(
            VERIFIED,
            cluster=ClusterView(
                "example", operation_phase="Seeding", operation_message="example-abc restoring"
            ),
        ),
        AwaitCluster(
            "Restoring", "EtcdCluster example is restoring: Seeding: example-abc restoring"
        ),
    ),
    "... for this restore's uid": (
        Observed(
            VERIFIED,
            cluster=ClusterView("example", operation_phase="Replacing", operation_uid=UID),
        ),
        AwaitCluster("Restoring", "EtcdCluster example is restoring: Replacing"),
    ),
    "... not an earlier restore's": (
        Observed(
            VERIFIED,
            cluster=ClusterView("example", operation_phase="Replacing", operation_uid="other"),
        ),
        AwaitCluster("WaitingForCluster", WAITING),
    ),
    "the seed cannot start: why, from the cluster's Degraded message": (
        Observed(
            VERIFIED,
            cluster=ClusterView(
                "example",
                operation_phase="Seeding",
                operation_uid=UID,
                cannot_start="example-abc: fetch-backup: CrashLoopBackOff: fetch: S3Unreachable",
            ),
        ),
        AwaitCluster(
            "SeedCannotStart",
            "EtcdCluster example cannot start the restore's seed: "
            "example-abc: fetch-backup: CrashLoopBackOff: fetch: S3Unreachable",
        ),
    ),
    "... not for an earlier restore's seed": (
        Observed(
            VERIFIED,
            cluster=ClusterView(
                "example", operation_phase="Seeding", operation_uid="other", cannot_start="x"
            ),
        ),
        AwaitCluster("WaitingForCluster", WAITING),
    ),
    "verified, and the cluster gone: said": (
        Observed(VERIFIED),
        AwaitCluster("ClusterNotFound", NOT_FOUND),
    ),
    "verified for an older generation: verify again": (
        Observed(restore(generation=2, observed_generation=1, Verified=T), cluster=CLUSTER),
        StartVerify(announce=True),
    ),
    "Verified=False is not verified": (
        Observed(restore(observed_generation=1, Verified=F), cluster=CLUSTER),
        StartVerify(announce=True),
    ),
    # --- preconditions, waited for ---
    "no cluster: Verified=False ClusterNotFound": (
        Observed(restore()),
        NotVerified("ClusterNotFound", NOT_FOUND),
    ),
    "... before the Secret is looked at": (
        Observed(restore(), waiting=("SecretNotFound", "w")),
        NotVerified("ClusterNotFound", NOT_FOUND),
    ),
    "a missing Secret": (
        Observed(restore(), cluster=CLUSTER, waiting=("SecretNotFound", "waiting for aws")),
        NotVerified("SecretNotFound", "waiting for aws"),
    ),
    "a malformed Secret": (
        Observed(restore(), cluster=CLUSTER, waiting=("InvalidAWSSecret", "no credentials")),
        NotVerified("InvalidAWSSecret", "no credentials"),
    ),
    # --- verification, and its back-off ---
    "the first verification starts at once, announced": (
        Observed(restore(), cluster=CLUSTER),
        StartVerify(announce=True),
    ),
    "one failure: 5 s": (
        Observed(restore(), cluster=CLUSTER, memory=Memory(failures=1, last_failure=ago(2))),
        WaitUntil(later(3)),
    ),
    "three failures: 20 s": (
        Observed(restore(), cluster=CLUSTER, memory=Memory(failures=3, last_failure=ago(2))),
        WaitUntil(later(18)),
    ),
    "many failures: at most 5 min": (
        Observed(restore(), cluster=CLUSTER, memory=Memory(failures=40, last_failure=ago(1))),
        WaitUntil(later(299)),
    ),
    "the back-off ends: a retry, not announced (the failure stays shown)": (
        Observed(restore(), cluster=CLUSTER, memory=Memory(failures=3, last_failure=ago(20))),
        StartVerify(announce=False),
    ),
    "a changed Secret or spec is tried at once": (
        Observed(
            restore(),
            cluster=CLUSTER,
            memory=Memory(failures=5, last_failure=ago(2), failed_inputs="1/100"),
            inputs_version="1/107",
        ),
        StartVerify(announce=False),
    ),
    "... unchanged ones wait": (
        Observed(
            restore(),
            cluster=CLUSTER,
            memory=Memory(failures=1, last_failure=ago(2), failed_inputs="1/100"),
            inputs_version="1/100",
        ),
        WaitUntil(later(3)),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_plan(name: str) -> None:
    observed, want = CASES[name]
    assert plan(observed, NOW) == want


def test_backoff_doubles_from_5_s_to_5_min() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4, 5, 6, 7, 100)] == [
        5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0
    ]  # fmt: skip
