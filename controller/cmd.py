"""`etcd-operator`: the operator process (flags in controller.options).

Builds the manager from the registry CONTROLLERS — each `--controllers` entry names a
reconciler package whose `setup(manager, options)` declares its watches and indexes —
serves /metrics, /healthz and /readyz, and runs until SIGTERM/SIGINT (drain, release the
lease, exit 0) or until leadership is lost (exit 1: a deposed leader must not keep acting;
its pod restarts as a standby).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import uuid
from collections.abc import Callable, Sequence

from controller import etcdbackup, etcdcluster, etcdrestore
from controller.clients.kube import KubeClient
from controller.common.scope import watch_namespace
from controller.options import Options, parse_options
from controller.runtime.apiclient import instrument
from controller.runtime.health import HttpServer, Route, probe
from controller.runtime.leader import LeaderElectionConfig, LeadershipLost
from controller.runtime.logs import setup_logging
from controller.runtime.manager import Manager
from controller.runtime.metrics import exposition

log = logging.getLogger("etcd-operator")

Setup = Callable[[Manager, Options], None]
# --controllers entry → the reconciler package's setup; the one list of controllers.
CONTROLLERS: dict[str, Setup] = {
    "cluster": etcdcluster.setup,
    "backup": etcdbackup.setup,
    "restore": etcdrestore.setup,
}


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
        leader_election=election,
        graceful_shutdown_timeout=opts.graceful_shutdown_timeout,
    )
    for entry in opts.controllers:
        CONTROLLERS[entry](mgr, opts)
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
    instrument(kube, qps=opts.kube_api_qps, burst=opts.kube_api_burst)
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
    opts = parse_options(argv, None, tuple(CONTROLLERS))
    setup_logging(opts.log_format, opts.log_level)
    try:
        code = asyncio.run(run(opts))
    except Exception:
        log.exception("operator failed")
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
