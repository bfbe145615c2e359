"""The agent process: N Nodes with their kubelet endpoints, cluster DNS, the local provisioner.

Start: end a previous run's leftovers, make sure the bridge exists, register the Nodes, serve.
SIGTERM/SIGINT: stop every pod's processes within their grace periods (capped so the whole
shutdown fits cluster-down's wait), tear down their namespaces, exit 0. Nodes stay registered.
Background services are supervised: one that fails is logged and restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import shutil
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from controller.clients.kube import KubeClient
from nodeagent import netns
from nodeagent.cleanup import stop_leftovers
from nodeagent.config import AgentConfig, StatePaths
from nodeagent.context import AgentContext
from nodeagent.images import ImageTable
from nodeagent.kubeletserver import KubeletServer
from nodeagent.node import Node
from nodeagent.procs import ProcTable

log = logging.getLogger(__name__)
GC_EVERY = 120.0


def collect_garbage(paths: StatePaths, nodes: list[Node]) -> int:
    """Removes pod and log dirs of pods no node runs (e.g. deleted while the agent was down)."""
    if not all(n.synced for n in nodes):
        return 0
    known = {uid for n in nodes for uid in n.workers}
    removed = 0
    for pod_dir in list(paths.pods.glob("*")):
        if pod_dir.name not in known:
            shutil.rmtree(pod_dir, ignore_errors=True)
            removed += 1
    for log_dir in list(paths.logs.glob("*_*_*")):
        if log_dir.name.rsplit("_", 1)[-1] not in known:
            shutil.rmtree(log_dir, ignore_errors=True)
            removed += 1
    return removed


async def garbage_collector(paths: StatePaths, nodes: list[Node]) -> None:
    while True:
        await asyncio.sleep(GC_EVERY)
        removed = collect_garbage(paths, nodes)
        if removed:
            log.info("removed %d directories of pods that are gone", removed)


def node_resources() -> dict[str, str]:
    """Each Node advertises the whole host (they all share it)."""
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    disk = shutil.disk_usage("/")
    return {
        "cpu": str(os.cpu_count() or 1),
        "memory": f"{mem_kib}Ki",
        "pods": "110",
        "ephemeral-storage": f"{disk.total // 1024}Ki",
    }


async def supervise(name: str, start: Callable[[], Awaitable[None]]) -> None:
    """Runs `start()` again (with back-off) whenever it fails or returns."""
    delay = 1.0
    while True:
        try:
            await start()
            log.warning("%s ended; restarting", name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; restarting in %.0fs", name, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)


def _optional_services(ctx: AgentContext) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
    """ClusterDNS and LocalProvisioner, when their modules are present."""
    cfg = ctx.config
    services: list[tuple[str, Callable[[], Awaitable[None]]]] = []
    if cfg.run_dns:
        try:
            from nodeagent.dns import ClusterDNS
        except ImportError as exc:
            log.warning("cluster DNS not available: %s", exc)
        else:
            dns = ClusterDNS(
                ctx.kube, listen=cfg.cluster_dns, port=cfg.dns_port, domain=cfg.cluster_domain
            )
            services.append(("cluster DNS", dns.run))
    if cfg.run_provisioner:
        try:
            from nodeagent.provisioner import LocalProvisioner
        except ImportError as exc:
            log.warning("local provisioner not available: %s", exc)
        else:
            prov = LocalProvisioner(ctx.kube, Path(cfg.volumes_root))
            services.append(("local provisioner", prov.run))
    return services


def lock_state(paths: StatePaths) -> TextIO | None:
    """An exclusive lock on the state dir: a second agent on it would kill the first's pods."""
    handle = open(paths.root / "agent.lock", "a")  # held while the agent runs
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


async def run(config: AgentConfig) -> int:
    paths = StatePaths(config.state)
    paths.root.mkdir(parents=True, exist_ok=True)
    lock = lock_state(paths)
    if lock is None:
        log.error("another node agent runs on %s; not starting", paths.root)
        return 1
    await stop_leftovers(config, paths)
    await netns.ensure_bridge(config.bridge, f"{config.gateway}/{config.prefix_len}")
    kube = await KubeClient.connect(str(config.kubeconfig_path))
    ctx = AgentContext(
        kube=kube,
        config=config,
        paths=paths,
        procs=ProcTable(paths.procs),
        images=ImageTable.load(config.root, paths.root, config.images_file),
        node_allocatable=node_resources(),
    )
    nodes = [Node(ctx, i) for i in config.node_indexes]
    servers = [KubeletServer(node, config.pki) for node in nodes]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(supervise(f"node {n.name}", n.run)) for n in nodes]
    tasks += [asyncio.create_task(supervise(name, fn)) for name, fn in _optional_services(ctx)]
    tasks.append(asyncio.create_task(supervise("gc", lambda: garbage_collector(paths, nodes))))
    for server in servers:
        try:
            await server.start()
        except (OSError, ValueError) as exc:
            log.error("%s: kubelet endpoint not served: %s", server.node.name, exc)
    log.info("node agent running: %d nodes, state in %s", len(nodes), paths.root)
    await stop.wait()
    log.info("shutting down: stopping all pods")
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.gather(
        *(n.shutdown(config.shutdown_grace) for n in nodes), return_exceptions=True
    )
    for server in servers:
        with contextlib.suppress(Exception):
            await server.stop()
    await kube.close()
    log.info("node agent stopped")
    lock.close()
    return 0
