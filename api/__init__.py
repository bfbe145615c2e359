"""The etcd.database.coreos.com/v1beta2 API types and the CRDs generated from them."""

from typing import Any

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
    RestoredFrom,
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
from api.operation import Operation
from api.restore import (
    EtcdClusterRef,
    EtcdRestore,
    RestoreConditionType,
    RestoreSpec,
    RestoreStatus,
)
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
KINDS_BY_NAME: dict[str, type[KubeObject]] = {k.names.kind: k for k in KINDS}


def parse_object(obj: dict[str, Any]) -> KubeObject:
    """The typed object for a raw API dict of any of the three kinds (by its `kind`)."""
    kind = KINDS_BY_NAME.get(obj.get("kind", ""))
    if kind is None:
        raise ValueError(f"not a kind of {API_VERSION}: {obj.get('kind')!r}")
    return kind.model_validate(obj)


__all__ = [
    "API_VERSION",
    "GROUP",
    "KINDS",
    "KINDS_BY_NAME",
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
    "Operation",
    "PodPolicy",
    "ResourceNames",
    "RestoreConditionType",
    "RestoreSpec",
    "RestoreStatus",
    "RestoredFrom",
    "S3Source",
    "StaticTLS",
    "TLSPolicy",
    "find_condition",
    "parse_object",
    "remove_condition",
    "set_condition",
]
