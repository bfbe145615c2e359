"""What the planner sees of one EtcdRestore, from the cache: the verification job (or why
there is none), and the EtcdCluster it restores.

The spec is checked for what the CRD cannot say (a storage type not implemented yet, no
awsSecret): such a spec can never work and fails the restore. The awsSecret is read from the
cache: a missing or malformed one is waited for (its creation or change enqueues the
restore). The EtcdCluster of the same name is read as far as the hand-off needs: whether it
exists, which restore it was last seeded by (status.restoredFrom), the Restore operation it
runs (status.operation) and, while it runs one, whether its seed cannot start (the cluster's
Degraded condition, reason MemberCannotStart).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from api import ClusterConditionType, ClusterStatus, ConditionStatus, EtcdRestore, find_condition
from api.storage import SUPPORTED_STORAGE_TYPES
from controller.common.resources import ETCD_CLUSTERS, SECRETS
from controller.common.secretfiles import SecretProblem, s3_settings
from controller.etcdrestore.reasons import (
    INVALID_SPEC,
    SECRET_NOT_FOUND,
    STORAGE_TYPE_NOT_SUPPORTED,
)
from controller.etcdrestore.task import VerifyJob, source_url
from controller.runtime.cache import Cache
from controller.runtime.store import Obj, join_key

RESTORE_OPERATION = "Restore"  # status.operation.type of an EtcdCluster being restored
RESTORE_UID_INPUT = "restoreUID"  # its inputs' key naming the EtcdRestore's uid
CANNOT_START = "MemberCannotStart"  # the cluster's Degraded reason for a pod that cannot start


@dataclass(frozen=True)
class Inputs:
    """The job, or why there is none: `problem` can never work (the restore fails),
    `waiting` may be fixed by the user (a Secret created or corrected)."""

    job: VerifyJob | None = None
    problem: tuple[str, str] | None = None
    waiting: tuple[str, str] | None = None
    version: str = ""  # the generation and the Secret's resourceVersion


@dataclass(frozen=True)
class ClusterView:
    """The EtcdCluster of the restore's name, as far as the hand-off goes."""

    name: str
    restored_uid: str | None = None  # status.restoredFrom.restoreUID
    restored_source: str | None = None
    completed_at: str | None = None  # as the status spells it
    operation_phase: str | None = None  # of a status.operation of type Restore
    operation_message: str | None = None
    operation_uid: str | None = None  # the EtcdRestore it restores for (inputs.restoreUID)
    cannot_start: str | None = None  # while restoring: why its seed pod cannot start


def restore_secrets(obj: Obj) -> list[str | None]:
    """The Secrets an EtcdRestore names (raw object: what the Secret index lists)."""
    spec = obj.get("spec") or {}
    return [(spec.get("s3") or {}).get("awsSecret")]


def inputs(restore: EtcdRestore, cache: Cache) -> Inputs:
    spec = restore.spec
    generation = restore.metadata.generation
    if spec.backup_storage_type not in SUPPORTED_STORAGE_TYPES:
        message = f"backupStorageType {spec.backup_storage_type} is not supported yet"
        return Inputs(problem=(STORAGE_TYPE_NOT_SUPPORTED, message))
    s3 = spec.s3
    if s3 is None:
        return Inputs(problem=(INVALID_SPEC, "spec.s3 is required for backupStorageType S3"))
    if not s3.aws_secret:
        return Inputs(problem=(INVALID_SPEC, "spec.s3.awsSecret is required"))
    secret = cache.get(SECRETS, join_key(restore.namespace, s3.aws_secret))
    rv = ((secret or {}).get("metadata") or {}).get("resourceVersion")
    version = f"{generation}/{rv}"
    if secret is None:
        message = f"waiting for Secret {s3.aws_secret} in the restore's namespace"
        return Inputs(waiting=(SECRET_NOT_FOUND, message), version=version)
    try:
        settings = s3_settings(s3, secret)
    except SecretProblem as exc:
        return Inputs(waiting=(exc.reason, str(exc)), version=version)
    job = VerifyJob(s3=settings, bucket=s3.bucket, key=s3.key, generation=generation)
    return Inputs(job=job, version=version)


def source(restore: EtcdRestore) -> str:
    """The backup object as a URL, for messages (s3://bucket/key)."""
    s3 = restore.spec.s3
    if s3 is None:
        return f"a {restore.spec.backup_storage_type} backup"
    return source_url(s3.bucket, s3.key)


def cluster_view(restore: EtcdRestore, cache: Cache) -> ClusterView | None:
    """The EtcdCluster named by spec.etcdCluster.name in the restore's namespace, or None."""
    name = restore.spec.etcd_cluster.name
    obj = cache.get(ETCD_CLUSTERS, join_key(restore.namespace, name))
    if obj is None:
        return None
    return view_of(name, obj)


def view_of(name: str, obj: Obj) -> ClusterView:
    raw = obj.get("status") or {}
    try:
        status = ClusterStatus.model_validate(raw)
    except ValidationError:  # a status this operator cannot read: nothing to hand off from
        return ClusterView(name)
    done, op = status.restored_from, status.operation
    restoring = op is not None and op.type == RESTORE_OPERATION
    degraded = find_condition(status.conditions, ClusterConditionType.DEGRADED)
    stuck = (
        degraded is not None
        and degraded.status == ConditionStatus.TRUE
        and degraded.reason == CANNOT_START
    )
    return ClusterView(
        name=name,
        restored_uid=done.restore_uid if done else None,
        restored_source=done.source if done else None,
        completed_at=(raw.get("restoredFrom") or {}).get("completedAt") if done else None,
        operation_phase=op.phase if restoring and op else None,
        operation_message=op.message if restoring and op else None,
        operation_uid=op.inputs.get(RESTORE_UID_INPUT) if restoring and op else None,
        cannot_start=degraded.message if restoring and stuck and degraded else None,
    )
