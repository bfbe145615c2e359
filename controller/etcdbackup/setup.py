"""Wires the EtcdBackup reconciler into a manager: what it caches, indexes and watches."""

from __future__ import annotations

from controller.common.resources import ETCD_BACKUPS, SECRETS
from controller.common.scope import is_managed
from controller.common.tls import BY_SECRET, secret_index
from controller.etcdbackup.observe import backup_secrets
from controller.etcdbackup.reconciler import EtcdBackupReconciler
from controller.options import Options
from controller.runtime.events import EventRecorder
from controller.runtime.handler import any_object, to_referrers, to_self
from controller.runtime.manager import Manager

COMPONENT = "etcd-operator"


def setup(mgr: Manager, opts: Options) -> None:
    mgr.informer_for(SECRETS)
    # A Secret created or changed (credentials rotated) enqueues every backup naming it.
    mgr.add_index(ETCD_BACKUPS, BY_SECRET, secret_index(backup_secrets))
    reconciler = EtcdBackupReconciler(
        mgr.cache, mgr.kube, mgr.tasks, EventRecorder(mgr.kube, COMPONENT), opts.cluster_wide
    )
    in_scope = any_object(lambda obj: is_managed(obj, opts.cluster_wide))
    controller = mgr.add_controller(reconciler, workers=opts.workers)
    reconciler.ensure_task = controller.ensure_task
    controller.watch(ETCD_BACKUPS, to_self, predicate=in_scope)
    controller.watch(SECRETS, to_referrers(mgr.cache, ETCD_BACKUPS, BY_SECRET))
