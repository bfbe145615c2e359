"""The etcd.database.coreos.com/v1beta2 API types and the CRDs generated from them."""

from api.backup import BackupPolicy, BackupSpec, BackupStatus, EtcdBackup
from api.cluster import (
    ClusterConditionType,
    ClusterPhase,
    ClusterSpec,
    ClusterStatus,
    EtcdCluster,
    MemberSecret,
    MembersStatus,
    PodPolicy,
    StaticTLS,
    TLSPolicy,
)
from api.conditions import (
    Condition,
    ConditionStatus,
    find_condition,
    remove_condition,
    set_condition,
)
from api.meta import API_VERSION, GROUP, VERSION, KubeObject, ObjectMeta, ResourceNames
from api.restore import EtcdClusterRef, EtcdRestore, RestoreSpec, RestoreStatus
from api.storage import (
    SUPPORTED_STORAGE_TYPES,
    ABSSource,
    BackupStorageType,
    GCSSource,
    OSSSource,
    S3Source,
)

# The three kinds, for code that handles any of them (informers, crdgen, tests).
KINDS: tuple[type[KubeObject], ...] = (EtcdCluster, EtcdBackup, EtcdRestore)

__all__ = [
    "API_VERSION",
    "GROUP",
    "KINDS",
    "SUPPORTED_STORAGE_TYPES",
    "VERSION",
    "ABSSource",
    "BackupPolicy",
    "BackupSpec",
    "BackupStatus",
    "BackupStorageType",
    "ClusterConditionType",
    "ClusterPhase",
    "ClusterSpec",
    "ClusterStatus",
    "Condition",
    "ConditionStatus",
    "EtcdBackup",
    "EtcdCluster",
    "EtcdClusterRef",
    "EtcdRestore",
    "GCSSource",
    "KubeObject",
    "MemberSecret",
    "MembersStatus",
    "OSSSource",
    "ObjectMeta",
    "PodPolicy",
    "ResourceNames",
    "RestoreSpec",
    "RestoreStatus",
    "S3Source",
    "StaticTLS",
    "TLSPolicy",
    "find_condition",
    "remove_condition",
    "set_condition",
]
