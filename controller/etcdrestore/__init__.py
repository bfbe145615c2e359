"""The EtcdRestore reconciler. Until its issue lands it validates and logs each EtcdRestore."""

from __future__ import annotations

from api import EtcdRestore
from controller.common.placeholder import ValidatingReconciler
from controller.common.resources import ETCD_RESTORES
from controller.common.scope import is_managed
from controller.options import Options
from controller.runtime.handler import any_object, to_self
from controller.runtime.manager import Manager


def setup(mgr: Manager, opts: Options) -> None:
    reconciler = ValidatingReconciler(
        "etcdrestore", ETCD_RESTORES, EtcdRestore, mgr.cache, opts.cluster_wide
    )
    in_scope = any_object(lambda obj: is_managed(obj, opts.cluster_wide))
    mgr.add_controller(reconciler, workers=opts.workers).watch(
        ETCD_RESTORES, to_self, predicate=in_scope
    )
