"""Removing what the agent left behind: processes, network namespaces, veths, bridge, mounts.

Two uses: at agent start, `stop_leftovers` ends whatever a previous (maybe SIGKILLed) run of
the same state dir still has running, so no pod runs unsupervised; `cleanup` (the
`nodeagent cleanup` command, run by cluster-down) removes everything, bridge included.
Processes are found twice over: by the process-group records in the state dir, and by being
inside one of the network namespaces being removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess

from nodeagent import mountpoints, netns
from nodeagent.config import AgentConfig, StatePaths
from nodeagent.procs import ProcTable, alive, pids_in_netns

log = logging.getLogger(__name__)
DEFAULT_PREFIX = "eo-"


def agent_netns_pattern(config: AgentConfig) -> re.Pattern[str]:
    """Namespaces the pod workers name (`<prefix><node>-<uid>`), not hack/in-cluster's."""
    return re.compile(rf"^{re.escape(config.netns_prefix)}\d+-[0-9a-f]+$")


async def _kill_in_netns(names: list[str]) -> int:
    pids = pids_in_netns([f"{netns.NETNS_DIR}/{n}" for n in names])
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    for _ in range(50):  # SIGKILLed processes go quickly; wait so the namespaces can go too
        if not any(alive(pid) for pid in pids):
            break
        await asyncio.sleep(0.1)
    return len(pids)


async def _teardown_all(names: list[str]) -> None:
    for name in names:
        try:
            await netns.teardown_pod_network(name)
        except netns.NetnsError as exc:
            log.warning("%s", exc)


def _remove_run_dirs(paths: StatePaths) -> None:
    """Per-pod scratch (launch specs); the pods' data stays."""
    for run_dir in paths.pods.glob("*/run"):
        shutil.rmtree(run_dir, ignore_errors=True)


def unmount_under(root: str) -> list[str]:
    """Lazily unmounts anything mounted at or below `root` in the host's mount namespace."""
    targets = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == root or point.startswith(root.rstrip("/") + "/"):
                targets.append(point)
    for point in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    return targets


async def stop_leftovers(config: AgentConfig, paths: StatePaths) -> None:
    """Agent start: the previous run's processes and pod namespaces go; data stays."""
    groups = ProcTable(paths.procs).kill_all()
    pattern = agent_netns_pattern(config)
    names = [n for n in await netns.list_netns(config.netns_prefix) if pattern.match(n)]
    strays = await _kill_in_netns(names)
    await _teardown_all(names)
    _remove_run_dirs(paths)
    if groups or strays or names:
        log.info(
            "stopped leftovers of a previous run: %d process groups, %d processes,"
            " %d network namespaces",
            groups,
            strays,
            len(names),
        )


def listeners_on(address: str) -> int:
    """How many TCP listeners / bound UDP sockets use `address` (IPv4)."""
    packed = "".join(f"{int(part):02X}" for part in reversed(address.split(".")))
    count = 0
    for table, listening in (("/proc/net/tcp", "0A"), ("/proc/net/udp", "07")):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[1].split(":")[0] == packed and fields[3] == listening:
                    count += 1
    return count


async def cleanup(config: AgentConfig, paths: StatePaths) -> None:
    """Everything goes: processes, every `<prefix>*` namespace, veths, the bridge, mounts.

    The bridge stays while something still listens on its gateway address: that is the API
    server during `control-plane.sh restart nodeagent` (cluster-down removes it after).
    """
    groups = ProcTable(paths.procs).kill_all()
    names = await netns.list_netns(config.netns_prefix)
    strays = await _kill_in_netns(names)
    unmounted = unmount_under(str(paths.root))
    await _teardown_all(names)
    if config.netns_prefix == DEFAULT_PREFIX:
        # Pairs a setup left half-made (both ends still here); a namespace's own pair went
        # with its teardown above. Only for the real prefix: others may be mid-setup.
        await netns.delete_host_veths()
    if listeners_on(config.gateway):
        log.info(
            "cleanup: bridge %s kept: the API server still listens on %s",
            config.bridge,
            config.gateway,
        )
    else:
        await netns.delete_bridge(config.bridge)
    removed = mountpoints.remove_created(paths.mountpoints)
    _remove_run_dirs(paths)
    log.info(
        "cleanup: %d process groups, %d processes, %d namespaces, %d mounts,"
        " %d mount points removed",
        groups,
        strays,
        len(names),
        len(unmounted),
        len(removed),
    )
