"""`etcd-operator`: the operator process (flags in controller.options).

Builds the manager with one controller per `--controllers` entry, serves /metrics,
/healthz and /readyz, and runs until SIGTERM/SIGINT (drain, release the lease, exit 0) or
until leadership is lost (exit 1: a deposed leader must not keep acting; its pod restarts
as a standby). `cluster` runs the EtcdCluster reconciler (controller.etcdcluster); backup
and restore are still placeholders that log what the cache holds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import uuid
from collections.abc import Sequence

from controller.cache import CLUSTER_LABEL
from controller.clients.kube import KubeClient, Resource
from controller.etcdcluster.reconciler import EtcdClusterReconciler
from controller.health import HttpServer, Route, probe
from controller.leader import LeaderElectionConfig, LeadershipLost
from controller.logs import setup_logging
from controller.manager import Cache, Manager
from controller.mapping import any_object, to_owning_cluster, to_self
from controller.metrics import exposition
from controller.options import Options, parse_options
from controller.reconcile import Reconciler, Result
from controller.resources import ETCD_BACKUPS, ETCD_CLUSTERS, ETCD_RESTORES, PODS, PVCS, SERVICES
from controller.scope import is_managed, watch_namespace

log = logging.getLogger("etcd-operator")

# --controllers entry → (controller name, the CR it reconciles)
CONTROLLERS: dict[str, tuple[str, Resource]] = {
    "cluster": ("etcdcluster", ETCD_CLUSTERS),
    "backup": ("etcdbackup", ETCD_BACKUPS),
    "restore": ("etcdrestore", ETCD_RESTORES),
}
# Objects a cluster owns. Only those labelled etcd_cluster are cached (as the CoreOS
# operator labels them), so a cluster-wide operator does not hold every pod in memory.
OWNED = (PODS, PVCS, SERVICES)


class LoggingReconciler:
    """Placeholder reconciler: reads the cached CR and logs what it would act on."""

    def __init__(self, name: str, resource: Resource, cache: Cache, cluster_wide: bool):
        self.name = name
        self.resource = resource
        self.cache = cache
        self.cluster_wide = cluster_wide

    async def reconcile(self, key: str) -> Result:
        obj = self.cache.get(self.resource, key)
        if obj is None:
            log.info("%s %s is gone", self.resource.kind, key)
        elif not is_managed(obj, self.cluster_wide):
            log.info("%s %s is not in this operator's scope", self.resource.kind, key)
        else:
            meta = obj["metadata"]
            owned = {
                r.plural: len(self.cache.owned_by_cluster(r, key))
                for r in OWNED
                if self.resource is ETCD_CLUSTERS
            }
            log.info(
                "reconcile %s %s",
                self.resource.kind,
                key,
                extra={"resourceVersion": meta.get("resourceVersion"), **owned},
            )
        return Result()


def build_manager(kube: KubeClient, opts: Options) -> Manager:
    election = None
    if opts.leader_elect:
        election = LeaderElectionConfig(
            lease_name=opts.leader_election_id,
            namespace=opts.leader_election_namespace,
            identity=_identity(),
            lease_duration=opts.lease_duration,
            renew_deadline=opts.renew_deadline,
            retry_period=opts.retry_period,
        )
    mgr = Manager(
        kube,
        namespace=watch_namespace(opts.namespace, opts.cluster_wide),
        label_selectors={res: CLUSTER_LABEL for res in OWNED},
        leader_election=election,
        graceful_shutdown_timeout=opts.graceful_shutdown_timeout,
    )
    in_scope = any_object(lambda obj: is_managed(obj, opts.cluster_wide))
    for entry in opts.controllers:
        name, res = CONTROLLERS[entry]
        reconciler: Reconciler
        if res is ETCD_CLUSTERS:
            reconciler = EtcdClusterReconciler(mgr.cache, kube, opts.cluster_wide)
        else:
            reconciler = LoggingReconciler(name, res, mgr.cache, opts.cluster_wide)
        controller = mgr.add_controller(reconciler, workers=opts.workers)
        controller.watch(res, to_self, predicate=in_scope)
        if res is ETCD_CLUSTERS:
            for owned in OWNED:
                controller.watch(owned, to_owning_cluster)
    return mgr


def build_servers(opts: Options, mgr: Manager) -> list[HttpServer]:
    """The metrics and probe servers; one server when both use the same address."""

    def metrics() -> tuple[int, str, bytes]:
        body, content_type = exposition()
        return 200, content_type, body

    by_address: dict[str, dict[str, Route]] = {}
    by_address.setdefault(opts.metrics_bind_address, {})["/metrics"] = metrics
    probes = by_address.setdefault(opts.health_probe_bind_address, {})
    probes["/healthz"] = probe(lambda: True, "not running")
    probes["/readyz"] = probe(lambda: mgr.synced, "informers not synced")
    return [HttpServer(addr, routes) for addr, routes in by_address.items() if addr != "0"]


def _identity() -> str:
    """Unique per process, readable in the Lease: pod (or host) name plus a random suffix."""
    return f"{os.environ.get('MY_POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


async def run(opts: Options) -> int:
    kube = await KubeClient.connect(opts.kubeconfig)
    mgr = build_manager(kube, opts)
    servers = build_servers(opts, mgr)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, mgr.stop)
    try:
        for server in servers:
            await server.start()
        fields = {
            "namespace": mgr.namespace or "*",
            "controllers": ",".join(c.name for c in mgr.controllers),
        }
        if mgr.leader_election is not None:
            fields["identity"] = mgr.leader_election.identity
        log.info("starting", extra=fields)
        await mgr.run()
        log.info("stopped")
        return 0
    except LeadershipLost as exc:
        log.error("leadership lost, exiting: %s", exc)
        return 1
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        for server in servers:
            await server.close()
        await kube.close()


def main(argv: Sequence[str] | None = None) -> None:
    opts = parse_options(argv)
    setup_logging(opts.log_format, opts.log_level)
    try:
        code = asyncio.run(run(opts))
    except Exception:
        log.exception("operator failed")
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
