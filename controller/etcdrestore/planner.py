"""The EtcdRestore planner: from what is observed, and the time, the one next action. Pure.

A restore is one-shot. Order:
1. Complete (status or this replica's record): nothing, ever again.
2. The EtcdCluster says it was seeded by this restore (status.restoredFrom.restoreUid is
   this restore's uid): finish — succeeded, Complete=True.
3. An ended verification is recorded (status, Events) before anything else happens.
4. A spec that can never work (storage type, no awsSecret) fails the restore.
5. Failed for the current generation (a corrupt backup): nothing more until the spec changes.
6. Verified for the current generation (status — durable across restarts — or this
   replica's record, which the cache may not show yet): the backup is never read again;
   the restore waits for the EtcdCluster reconciler, reporting its Restore operation.
7. A running verification is waited for.
8. Preconditions, waited for (their watches enqueue the restore): the EtcdCluster exists,
   the awsSecret exists and holds the AWS files.
9. After failures, a back-off (5 s doubling, at most 5 min) from the last one, which this
   replica remembers; after a restart, or when the inputs changed (the spec or the Secret:
   the user's fix), the next attempt is immediate.
10. Verify.

Verified=True is what the EtcdCluster reconciler acts on, together with
status.observedGeneration equal to the restore's generation: see status.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from api import ConditionStatus, EtcdRestore, RestoreConditionType, find_condition
from controller.etcdrestore.observe import ClusterView, source
from controller.etcdrestore.outcome import Outcome
from controller.etcdrestore.reasons import (
    CLUSTER_NOT_FOUND,
    RESTORING,
    SEED_CANNOT_START,
    WAITING_FOR_CLUSTER,
)
from controller.runtime.tasks import Ended, Running

BACKOFF_BASE = 5.0
BACKOFF_MAX = 300.0


@dataclass(frozen=True)
class Memory:
    """What this replica remembers of one restore between passes (lost on restart)."""

    uid: str | None = None  # of the restore remembered: one deleted and created again is new
    verified_generation: int | None = None
    failed_generation: int | None = None
    completed: bool = False
    failures: int = 0  # consecutive verifications that failed (and will be retried)
    last_failure: datetime | None = None
    task_inputs: str | None = None  # the inputs' version the latest task started with
    task_generation: int | None = None  # ... and the generation it verifies
    failed_inputs: str | None = None  # ... and the one the latest failure had


TaskView = Running | Ended[Outcome]


@dataclass(frozen=True)
class Observed:
    restore: EtcdRestore
    memory: Memory = Memory()
    task: TaskView | None = None
    problem: tuple[str, str] | None = None  # (reason, message): the spec can never work
    waiting: tuple[str, str] | None = None  # (reason, message): the Secret is missing or bad
    cluster: ClusterView | None = None  # None: no EtcdCluster of that name
    inputs_version: str = ""  # changes with the spec and the Secret it names


# --- actions ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Done:
    """Complete, or failed for this generation: nothing to do."""


@dataclass(frozen=True)
class Finish:
    """The cluster was seeded by this restore: succeeded, Complete=True."""

    cluster: ClusterView


@dataclass(frozen=True)
class Record:
    outcome: Outcome | None


@dataclass(frozen=True)
class Fail:
    """The spec can never work: Failed=True (terminal for this generation)."""

    reason: str
    message: str


@dataclass(frozen=True)
class AwaitCluster:
    """Verified: Complete=False while the EtcdCluster reconciler restores (or cannot yet)."""

    reason: str
    message: str


@dataclass(frozen=True)
class WaitForTask:
    pass


@dataclass(frozen=True)
class NotVerified:
    """A precondition is missing (cluster, Secret): Verified=False, waited for."""

    reason: str
    message: str


@dataclass(frozen=True)
class StartVerify:
    announce: bool  # say Verifying (the first attempt; retries keep showing the failure)


@dataclass(frozen=True)
class WaitUntil:
    at: datetime


Action = (
    Done | Finish | Record | Fail | AwaitCluster | WaitForTask | NotVerified | StartVerify
) | WaitUntil


def plan(obs: Observed, now: datetime) -> Action:
    restore, memory, cluster = obs.restore, obs.memory, obs.cluster
    if completed(obs):
        return Done()
    if (
        cluster is not None
        and cluster.restored_uid
        and cluster.restored_uid == restore.metadata.uid
    ):
        return Finish(cluster)
    if isinstance(obs.task, Ended):
        return Record(obs.task.outcome)
    if obs.problem is not None:
        return Fail(*obs.problem)
    if failed(obs):
        return Done()
    if verified(obs):
        return await_cluster(restore, cluster)
    if isinstance(obs.task, Running):
        return WaitForTask()
    if cluster is None:
        return NotVerified(CLUSTER_NOT_FOUND, cluster_not_found(restore))
    if obs.waiting is not None:
        return NotVerified(*obs.waiting)
    same_inputs = memory.failed_inputs in (None, obs.inputs_version)
    if memory.failures and memory.last_failure is not None and same_inputs:
        retry_at = memory.last_failure + timedelta(seconds=backoff(memory.failures))
        if retry_at > now:
            return WaitUntil(retry_at)
    return StartVerify(announce=memory.failures == 0)


def seeded_by(cluster: ClusterView, restore: EtcdRestore) -> bool:
    """The cluster's status.restoredFrom names this restore (its uid: not an earlier
    EtcdRestore of the same name)."""
    return bool(cluster.restored_uid) and cluster.restored_uid == restore.metadata.uid


def completed(obs: Observed) -> bool:
    status = obs.restore.status
    condition = find_condition(status.conditions, RestoreConditionType.COMPLETE)
    done = condition is not None and condition.status == ConditionStatus.TRUE
    return obs.memory.completed or done or status.succeeded


def verified(obs: Observed) -> bool:
    """Verified=True for the current generation (the status, or this replica's record)."""
    generation = obs.restore.metadata.generation
    return obs.memory.verified_generation == generation or _condition_now(
        obs.restore, RestoreConditionType.VERIFIED
    )


def failed(obs: Observed) -> bool:
    """Failed=True for the current generation (the status, or this replica's record)."""
    generation = obs.restore.metadata.generation
    return obs.memory.failed_generation == generation or _condition_now(
        obs.restore, RestoreConditionType.FAILED
    )


def _condition_now(restore: EtcdRestore, type_: str) -> bool:
    status = restore.status
    if status.observed_generation != restore.metadata.generation:
        return False
    condition = find_condition(status.conditions, type_)
    return condition is not None and condition.status == ConditionStatus.TRUE


def await_cluster(restore: EtcdRestore, cluster: ClusterView | None) -> AwaitCluster:
    if cluster is None:
        return AwaitCluster(CLUSTER_NOT_FOUND, cluster_not_found(restore))
    mine = cluster.operation_uid in (None, restore.metadata.uid)  # not an earlier restore's
    if mine and cluster.cannot_start:
        return AwaitCluster(
            SEED_CANNOT_START,
            f"EtcdCluster {cluster.name} cannot start the restore's seed: {cluster.cannot_start}",
        )
    if mine and (cluster.operation_phase or cluster.operation_message):
        said = ": ".join(p for p in (cluster.operation_phase, cluster.operation_message) if p)
        return AwaitCluster(RESTORING, f"EtcdCluster {cluster.name} is restoring: {said}")
    return AwaitCluster(
        WAITING_FOR_CLUSTER,
        f"{source(restore)} verified; waiting for the EtcdCluster reconciler to replace the "
        f"members of {cluster.name}",
    )


def cluster_not_found(restore: EtcdRestore) -> str:
    name = restore.spec.etcd_cluster.name
    return f"EtcdCluster {name} not found in namespace {restore.namespace}"


def backoff(failures: int) -> float:
    """Seconds to wait after the latest of `failures` consecutive failures."""
    return float(min(BACKOFF_BASE * 2 ** min(failures - 1, 16), BACKOFF_MAX))
