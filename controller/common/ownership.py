"""Which EtcdCluster an object belongs to, and the cache index that answers it.

The controller ownerReference of kind EtcdCluster wins; objects created by the CoreOS
operator (or adopted from it) are recognised by their `etcd_cluster` label instead, the
label the operator's informers select pods, PVCs and Services by.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.runtime.handler import owner_key, to_owner
from controller.runtime.store import Obj

CLUSTER_KIND = "EtcdCluster"
CLUSTER_LABEL = "etcd_cluster"
BY_CLUSTER = "cluster"


def owning_cluster(obj: Mapping[str, Any] | None) -> str | None:
    """`namespace/name` of the EtcdCluster that owns obj, or None."""
    return owner_key(obj, CLUSTER_KIND, CLUSTER_LABEL)


def by_owning_cluster(obj: Obj) -> list[str]:
    key = owning_cluster(obj)
    return [key] if key else []


to_owning_cluster = to_owner(CLUSTER_KIND, CLUSTER_LABEL)
