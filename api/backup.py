"""EtcdBackup: snapshot an etcd cluster to object storage, once or periodically.

Fields follow CoreOS's backup_types.go, including the capitalised `status.Reason`; status
conditions, observedGeneration, operation and the latest backup's object (lastBackupPath,
lastBackupSizeBytes) are ours.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from api.conditions import Condition, conditions_field
from api.meta import KubeObject, ResourceNames, Timestamp, WireModel, wire_name
from api.operation import Operation
from api.storage import (
    ABSSource,
    BackupStorageType,
    GCSSource,
    OSSSource,
    S3Source,
    source_required_rules,
)


class BackupPolicy(WireModel):
    """How backups are taken and kept."""

    timeout_in_second: int = Field(default=0, ge=0)
    """Time limit of one whole backup in seconds; 0 means the operator's default."""
    backup_interval_in_second: int = Field(default=0, ge=0)
    """Seconds between periodic backups; 0 takes one backup only."""
    max_backups: int = Field(default=0, ge=0)
    """How many periodic backups to keep (the newest by revision); 0 keeps all."""


class BackupSpec(WireModel):
    """Which cluster to back up, where to, and how often."""

    cross_field_rules = source_required_rules("storageType", "storage_type")

    etcd_endpoints: list[str] = Field(default_factory=list)
    """Client URLs of one etcd cluster; the backup comes from the most up-to-date member."""
    storage_type: BackupStorageType
    """S3 (and S3-compatible stores); ABS, GCS and OSS are accepted but not supported yet."""
    backup_policy: BackupPolicy | None = None
    """Periodic backup and retention; unset takes one backup."""
    s3: S3Source | None = None
    """Where on S3 to store the backup (required for storageType S3)."""
    abs: ABSSource | None = None
    """Where on Azure Blob Storage to store the backup (required for storageType ABS)."""
    gcs: GCSSource | None = None
    """Where on Google Cloud Storage to store the backup (required for storageType GCS)."""
    oss: OSSSource | None = None
    """Where on Alibaba Cloud OSS to store the backup (required for storageType OSS)."""
    client_tls_secret: str | None = wire_name("clientTLSSecret", default=None)
    """Secret with etcd-client.crt, etcd-client.key and etcd-client-ca.crt for the endpoints."""

    @property
    def is_periodic(self) -> bool:
        return bool(self.backup_policy and self.backup_policy.backup_interval_in_second > 0)


class BackupStatus(WireModel):
    """Outcome of the latest backup."""

    succeeded: bool = False
    """Whether the latest backup succeeded."""
    reason: str | None = wire_name("Reason", default=None)
    """Why the latest backup failed (CoreOS spells this field with a capital R)."""
    etcd_version: str | None = None
    """Version of the etcd server the backup was taken from."""
    etcd_revision: int | None = None
    """Revision of etcd's key-value store the backup holds."""
    last_success_date: Timestamp | None = None
    """When the latest successful backup was taken."""
    last_backup_path: str | None = None
    """Where the latest successful backup is stored: "<bucket>/<key>", as an EtcdRestore's
    spec.s3.path takes it (ours)."""
    last_backup_size_bytes: int | None = None
    """Size in bytes of the latest successful backup's object (ours)."""
    conditions: list[Condition] = conditions_field()
    """Current conditions (ours, not CoreOS's), e.g. a storage type not supported yet."""
    observed_generation: int | None = None
    """metadata.generation of the spec this status describes (ours)."""
    operation: Operation | None = None
    """The multi-step operation in progress, recorded before its first destructive step."""


class EtcdBackup(KubeObject):
    """A one-shot or periodic backup of an etcd cluster."""

    names: ClassVar[ResourceNames] = ResourceNames(
        kind="EtcdBackup", plural="etcdbackups", singular="etcdbackup", short_names=("etcdbk",)
    )

    kind: str = "EtcdBackup"
    spec: BackupSpec
    status: BackupStatus = Field(default_factory=BackupStatus)
