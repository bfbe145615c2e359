"""Wires the EtcdCluster reconciler into a manager: what it caches, indexes and watches."""

from __future__ import annotations

from datetime import timedelta

from controller.clients.etcd import EtcdPool
from controller.common.ownership import (
    BY_CLUSTER,
    CLUSTER_LABEL,
    by_owning_cluster,
    to_owning_cluster,
)
from controller.common.resources import (
    ETCD_BACKUPS,
    ETCD_CLUSTERS,
    ETCD_RESTORES,
    NODES,
    PDBS,
    PODS,
    PVCS,
    SECRETS,
    SERVICES,
)
from controller.common.scope import is_managed
from controller.common.tls import BY_SECRET, secret_index
from controller.etcdcluster.maintainer import Maintainer
from controller.etcdcluster.reconciler import EtcdClusterReconciler
from controller.etcdcluster.recovery import RecoveryPolicy
from controller.options import Options
from controller.runtime.events import EventRecorder
from controller.runtime.handler import any_object, to_referrers, to_self
from controller.runtime.manager import Manager
from controller.runtime.store import Obj

COMPONENT = "etcd-operator"
# Objects a cluster owns. Only those labelled etcd_cluster are cached (as the CoreOS
# operator labels them), so a cluster-wide operator does not hold every pod in memory.
OWNED = (PODS, PVCS, SERVICES, PDBS)


def cluster_secrets(obj: Obj) -> list[str | None]:
    """The Secrets an EtcdCluster's spec.TLS.static names (raw object: no validation)."""
    static = ((obj.get("spec") or {}).get("TLS") or {}).get("static") or {}
    member = static.get("member") or {}
    return [member.get("peerSecret"), member.get("serverSecret"), static.get("operatorSecret")]


def setup(mgr: Manager, opts: Options) -> None:
    for res in OWNED:
        mgr.informer_for(res, label_selector=CLUSTER_LABEL)
        mgr.add_index(res, BY_CLUSTER, by_owning_cluster)
    mgr.informer_for(SECRETS)
    # The newest backup of a cluster that lost every member (read when it happens; a lost
    # cluster is looked at again every few seconds, so backups need no watch of their own).
    mgr.informer_for(ETCD_BACKUPS)
    # The Nodes member pods run on (a lost Node moves its members; a cluster with a member
    # down is looked at every few seconds, so Nodes need no watch of their own).
    mgr.informer_for(NODES)
    mgr.add_index(ETCD_CLUSTERS, BY_SECRET, secret_index(cluster_secrets))

    pool = EtcdPool()
    maintainer = Maintainer(mgr.tasks, pool)
    reconciler = EtcdClusterReconciler(
        mgr.cache,
        mgr.kube,
        pool,
        EventRecorder(mgr.kube, COMPONENT),
        opts.cluster_wide,
        RecoveryPolicy(
            grace=timedelta(seconds=opts.quorum_loss_grace_period),
            node_grace=timedelta(seconds=opts.node_lost_grace_period),
        ),
        opts.operator_image,
        maintainer,
    )
    in_scope = any_object(lambda obj: is_managed(obj, opts.cluster_wide))
    controller = mgr.add_controller(reconciler, workers=opts.workers)
    maintainer.ensure_task = controller.ensure_task
    controller.watch(ETCD_CLUSTERS, to_self, predicate=in_scope)
    for res in OWNED:
        controller.watch(res, to_owning_cluster)
    controller.watch(SECRETS, to_referrers(mgr.cache, ETCD_CLUSTERS, BY_SECRET))
    # An EtcdRestore has its cluster's name and namespace: its key is the cluster's key.
    controller.watch(ETCD_RESTORES, to_self)
