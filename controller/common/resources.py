"""Resource descriptors for every kind the operator caches or writes.

The etcd.database.coreos.com/v1beta2 kinds are described here from the API types' own names;
the core kinds are re-exported from the client so reconcilers import all descriptors from one
place.
"""

from __future__ import annotations

from api import GROUP, VERSION, EtcdBackup, EtcdCluster, EtcdRestore, KubeObject
from controller.clients.kube import (
    CONFIGMAPS,
    EVENTS,
    LEASES,
    NODES,
    PDBS,
    PODS,
    PVCS,
    SECRETS,
    SERVICES,
    Resource,
)


def _resource(kind: type[KubeObject]) -> Resource:
    return Resource(GROUP, VERSION, kind.names.plural, kind.names.kind)


ETCD_CLUSTERS = _resource(EtcdCluster)
ETCD_BACKUPS = _resource(EtcdBackup)
ETCD_RESTORES = _resource(EtcdRestore)

__all__ = [
    "CONFIGMAPS",
    "ETCD_BACKUPS",
    "ETCD_CLUSTERS",
    "ETCD_RESTORES",
    "EVENTS",
    "GROUP",
    "LEASES",
    "NODES",
    "PDBS",
    "PODS",
    "PVCS",
    "SECRETS",
    "SERVICES",
    "VERSION",
    "Resource",
]
