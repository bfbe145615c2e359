"""EtcdRestore: replace an EtcdCluster by a new one of the same name seeded from a backup.

Fields follow CoreOS's restore_types.go; status conditions and observedGeneration are ours.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from api.conditions import Condition, conditions_field
from api.meta import CrossFieldRule, KubeObject, ResourceNames, WireModel
from api.operation import Operation
from api.storage import (
    ABSSource,
    BackupStorageType,
    GCSSource,
    OSSSource,
    S3Source,
    source_required_rules,
)


class EtcdClusterRef(WireModel):
    """The EtcdCluster, in the restore's namespace, whose metadata and spec the new one takes."""

    name: str = Field(min_length=1)
    """Name of the EtcdCluster; it and its resources are deleted before the restore."""


class RestoreSpec(WireModel):
    """Which cluster to restore and from which backup."""

    cross_field_rules = source_required_rules("backupStorageType", "backup_storage_type")

    etcd_cluster: EtcdClusterRef
    """The cluster to replace."""
    backup_storage_type: BackupStorageType
    """Where the backup is: S3; ABS, GCS and OSS are accepted but not supported yet."""
    s3: S3Source | None = None
    """The backup object on S3 (required for backupStorageType S3)."""
    abs: ABSSource | None = None
    """The backup blob on Azure Blob Storage (required for backupStorageType ABS)."""
    gcs: GCSSource | None = None
    """The backup object on Google Cloud Storage (required for backupStorageType GCS)."""
    oss: OSSSource | None = None
    """The backup object on Alibaba Cloud OSS (required for backupStorageType OSS)."""


class RestoreConditionType(StrEnum):
    """Verified: the backup object exists, is readable and its SHA-256 trailer matches; the
    EtcdCluster reconciler touches the cluster only once this is True for the current
    generation. Complete: the cluster was seeded from the backup (status.restoredFrom of the
    EtcdCluster names this restore's uid). Failed: the restore cannot go on (reason says why)."""

    VERIFIED = "Verified"
    COMPLETE = "Complete"
    FAILED = "Failed"


class RestoreStatus(WireModel):
    """Outcome of the restore."""

    succeeded: bool = False
    """Whether the restore succeeded."""
    reason: str | None = None
    """Why the restore failed."""
    conditions: list[Condition] = conditions_field()
    """Current conditions (ours, not CoreOS's): progress and problems of the restore."""
    observed_generation: int | None = None
    """metadata.generation of the spec this status describes (ours)."""
    operation: Operation | None = None
    """The multi-step operation in progress, recorded before its first destructive step."""


def _named_after_cluster(restore: EtcdRestore) -> bool:
    return restore.metadata.name == restore.spec.etcd_cluster.name


class EtcdRestore(KubeObject):
    """A restore of an etcd cluster from a backup; its name is the restored cluster's name."""

    names: ClassVar[ResourceNames] = ResourceNames(
        kind="EtcdRestore", plural="etcdrestores", singular="etcdrestore", short_names=("etcdrs",)
    )
    cross_field_rules = (
        CrossFieldRule(
            cel="self.metadata.name == self.spec.etcdCluster.name",
            message="metadata.name must equal spec.etcdCluster.name"
            " (the restored cluster takes the restore's name)",
            check=_named_after_cluster,
            field_path=".metadata.name",
        ),
    )

    kind: str = "EtcdRestore"
    spec: RestoreSpec
    status: RestoreStatus = Field(default_factory=RestoreStatus)
