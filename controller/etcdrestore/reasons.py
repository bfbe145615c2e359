"""The EtcdRestore's vocabulary: condition types come from api.RestoreConditionType; these are
their reasons (and the Events' reasons: an Event is posted whenever a condition's reason
changes, Warning for the WARNINGS below, Normal otherwise).

Verified (the backup object was read whole and its SHA-256 trailer matched):
  True    BackupVerified
  Unknown Verifying                      the object is being read
  False   ClusterNotFound, SecretNotFound, InvalidAWSSecret        waited for (watches)
          BackupNotFound, NoSuchBucket, S3AccessDenied, S3Unreachable, S3Error
                                         retried with back-off
          BackupCorrupt, StorageTypeNotSupported, InvalidSpec      terminal (see Failed)
Complete (the EtcdCluster was seeded from the backup):
  False   WaitingForCluster, Restoring, ClusterNotFound
          SeedCannotStart                the cluster cannot start the restore's seed pod
                                         (its fetch or etcdutl keeps failing: the cluster's
                                         Degraded message, with the failing program's last
                                         line); waited for, the seed retries with back-off
  True    Restored
Failed (the restore cannot go on; status.reason says why):
  True    BackupCorrupt, StorageTypeNotSupported, InvalidSpec
"""

from __future__ import annotations

from controller.clients.s3 import BAD_SECRET as INVALID_AWS_SECRET  # as secretfiles says it

# Verified
BACKUP_VERIFIED = "BackupVerified"
VERIFYING = "Verifying"
CLUSTER_NOT_FOUND = "ClusterNotFound"
SECRET_NOT_FOUND = "SecretNotFound"
BACKUP_NOT_FOUND = "BackupNotFound"
NO_SUCH_BUCKET = "NoSuchBucket"
S3_ACCESS_DENIED = "S3AccessDenied"
S3_UNREACHABLE = "S3Unreachable"
S3_ERROR = "S3Error"
# Terminal
BACKUP_CORRUPT = "BackupCorrupt"
STORAGE_TYPE_NOT_SUPPORTED = "StorageTypeNotSupported"
INVALID_SPEC = "InvalidSpec"
# Complete
WAITING_FOR_CLUSTER = "WaitingForCluster"
RESTORING = "Restoring"
SEED_CANNOT_START = "SeedCannotStart"
RESTORED = "Restored"

TERMINAL = frozenset({BACKUP_CORRUPT, STORAGE_TYPE_NOT_SUPPORTED, INVALID_SPEC})
WARNINGS = frozenset(
    {
        CLUSTER_NOT_FOUND,
        SECRET_NOT_FOUND,
        INVALID_AWS_SECRET,
        BACKUP_NOT_FOUND,
        NO_SUCH_BUCKET,
        S3_ACCESS_DENIED,
        S3_UNREACHABLE,
        S3_ERROR,
        SEED_CANNOT_START,
    }
    | TERMINAL
)

__all__ = [
    "BACKUP_CORRUPT",
    "BACKUP_NOT_FOUND",
    "BACKUP_VERIFIED",
    "CLUSTER_NOT_FOUND",
    "INVALID_AWS_SECRET",
    "INVALID_SPEC",
    "NO_SUCH_BUCKET",
    "RESTORED",
    "RESTORING",
    "S3_ACCESS_DENIED",
    "S3_ERROR",
    "S3_UNREACHABLE",
    "SECRET_NOT_FOUND",
    "SEED_CANNOT_START",
    "STORAGE_TYPE_NOT_SUPPORTED",
    "TERMINAL",
    "VERIFYING",
    "WAITING_FOR_CLUSTER",
    "WARNINGS",
]
