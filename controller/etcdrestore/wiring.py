"""Wires the EtcdRestore reconciler into a manager: what it caches, indexes and watches."""

from __future__ import annotations

from controller.common.resources import ETCD_CLUSTERS, ETCD_RESTORES, SECRETS
from controller.common.scope import is_managed
from controller.common.tls import BY_SECRET, secret_index
from controller.etcdrestore.observe import restore_secrets
from controller.etcdrestore.reconciler import EtcdRestoreReconciler
from controller.options import Options
from controller.runtime.cache import Cache
from controller.runtime.events import EventRecorder
from controller.runtime.handler import Mapper, any_object, to_referrers, to_self
from controller.runtime.manager import Manager
from controller.runtime.store import Obj

COMPONENT = "etcd-operator"


def to_restore_of_cluster(cache: Cache) -> Mapper:
    """An EtcdCluster's event → the EtcdRestore of the same name and namespace, if there is
    one (a restore is named after its cluster), so clusters without one cost nothing."""

    def mapper(event_type: str, old: Obj | None, new: Obj | None) -> set[str]:
        if not cache.synced(ETCD_RESTORES):
            return set()  # the restores' own first list enqueues every one of them
        return {k for k in to_self(event_type, old, new) if cache.get(ETCD_RESTORES, k)}

    return mapper


def setup(mgr: Manager, opts: Options) -> None:
    mgr.informer_for(SECRETS)
    # A Secret created or changed (credentials fixed) enqueues every restore naming it.
    mgr.add_index(ETCD_RESTORES, BY_SECRET, secret_index(restore_secrets))
    reconciler = EtcdRestoreReconciler(
        mgr.cache, mgr.kube, mgr.tasks, EventRecorder(mgr.kube, COMPONENT), opts.cluster_wide
    )
    in_scope = any_object(lambda obj: is_managed(obj, opts.cluster_wide))
    controller = mgr.add_controller(reconciler, workers=opts.workers)
    reconciler.ensure_task = controller.ensure_task
    controller.watch(ETCD_RESTORES, to_self, predicate=in_scope)
    # Created (ClusterNotFound waited for), its Restore operation moving, restoredFrom set.
    controller.watch(ETCD_CLUSTERS, to_restore_of_cluster(mgr.cache))
    controller.watch(SECRETS, to_referrers(mgr.cache, ETCD_RESTORES, BY_SECRET))
