"""Resource descriptors for every kind the operator caches or writes.

The etcd.database.coreos.com/v1beta2 kinds are defined here; the core kinds are re-exported
from the client so reconcilers import all descriptors from one place.
"""

from __future__ import annotations

from controller.clients.kube import (
    CONFIGMAPS,
    EVENTS,
    LEASES,
    PODS,
    PVCS,
    SECRETS,
    SERVICES,
    Resource,
)

GROUP = "etcd.database.coreos.com"
VERSION = "v1beta2"

ETCD_CLUSTERS = Resource(GROUP, VERSION, "etcdclusters", "EtcdCluster")
ETCD_BACKUPS = Resource(GROUP, VERSION, "etcdbackups", "EtcdBackup")
ETCD_RESTORES = Resource(GROUP, VERSION, "etcdrestores", "EtcdRestore")

__all__ = [
    "CONFIGMAPS",
    "ETCD_BACKUPS",
    "ETCD_CLUSTERS",
    "ETCD_RESTORES",
    "EVENTS",
    "GROUP",
    "LEASES",
    "PODS",
    "PVCS",
    "SECRETS",
    "SERVICES",
    "VERSION",
    "Resource",
]
