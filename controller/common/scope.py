"""Which EtcdCluster CRs this operator instance manages (the CoreOS scope rule).

A cluster-wide operator watches every namespace but manages only CRs annotated
`etcd.database.coreos.com/scope: clusterwide`; a namespaced operator watches its own
namespace and manages only CRs without that annotation. Two operators, one of each kind,
can therefore share a namespace without fighting over a CR.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SCOPE_ANNOTATION = "etcd.database.coreos.com/scope"
CLUSTER_WIDE = "clusterwide"


def is_cluster_wide(obj: Mapping[str, Any]) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return annotations.get(SCOPE_ANNOTATION) == CLUSTER_WIDE


def is_managed(obj: Mapping[str, Any], cluster_wide: bool) -> bool:
    """True when an operator of the given scope is responsible for this CR."""
    return is_cluster_wide(obj) == cluster_wide


def watch_namespace(namespace: str, cluster_wide: bool) -> str | None:
    """The namespace to watch: None (all namespaces) for a cluster-wide operator."""
    return None if cluster_wide else namespace
