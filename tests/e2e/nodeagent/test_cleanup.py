"""`nodeagent cleanup` leaves nothing behind: processes, namespaces, veths, bridge, mounts.

Run against a throwaway state dir, namespace prefix and bridge, so the shared environment's
pods are untouched (cluster-down exercises the real thing).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from nodeagent import mountpoints, netns
from nodeagent.procs import ProcTable

from tests.e2e.nodeagent.pods import process_alive

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]


def sh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False)


def spawn(*argv: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL)


def run_cleanup(state: Path, prefix: str, bridge: str) -> subprocess.CompletedProcess[str]:
    """`nodeagent cleanup` on the throwaway setup (a gateway nobody listens on)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "nodeagent",
            "cleanup",
            "--root",
            str(ROOT),
            "--state-dir",
            str(state),
            "--netns-prefix",
            prefix,
            "--bridge",
            bridge,
            "--gateway",
            "192.0.2.1",
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT / "hack")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def mounted(path: Path) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == str(path) for line in f)


async def wait_in_netns(proc: subprocess.Popen[bytes], ns: str, timeout: float = 30) -> None:
    """Until `ip netns exec` has moved `proc` into namespace `ns` (it then execs the command).

    Generous: the setns happens within milliseconds, but a loaded 2-core machine may not
    schedule the new process for seconds."""
    want = os.stat(f"{netns.NETNS_DIR}/{ns}")
    deadline = time.monotonic() + timeout
    while True:
        try:
            st = os.stat(f"/proc/{proc.pid}/ns/net")
            if (st.st_dev, st.st_ino) == (want.st_dev, want.st_ino):
                return
        except FileNotFoundError:
            pass
        assert proc.poll() is None, f"{proc.args} exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"{proc.args} not in {ns} within {timeout}s"
        await asyncio.sleep(0.05)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILLs the session `proc` leads (start_new_session) and reaps it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


async def test_cleanup_removes_everything_it_is_responsible_for(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:4]
    prefix, bridge, ns = f"eot{tag}-", f"eot{tag}", f"eot{tag}-1-0123456789"
    state = tmp_path / "state"
    mount = state / "mnt"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        assert sh("ip", "link", "add", bridge, "type", "bridge").returncode == 0
        net = await netns.setup_pod_network(ns, "10.213.254.7", bridge=bridge)
        recorded_in_ns = spawn("ip", "netns", "exec", ns, "sleep", "600")
        procs.append(recorded_in_ns)
        unrecorded_in_ns = spawn("ip", "netns", "exec", ns, "sleep", "601")
        procs.append(unrecorded_in_ns)
        recorded_outside = spawn("sleep", "602")
        procs.append(recorded_outside)
        table = ProcTable(state / "procs")
        await wait_in_netns(recorded_in_ns, ns)
        await wait_in_netns(unrecorded_in_ns, ns)
        table.add(recorded_in_ns.pid)
        table.add(recorded_outside.pid)
        mount.mkdir(parents=True)
        assert sh("mount", "-t", "tmpfs", "none", str(mount)).returncode == 0
        mountpoint = tmp_path / "mp" / "var" / "etcd"
        mountpoints.ensure(str(mountpoint), True, state / "mountpoints.txt")
        assert mountpoint.is_dir()

        result = run_cleanup(state, prefix, bridge)
        assert result.returncode == 0, result.stderr

        for proc in (recorded_in_ns, unrecorded_in_ns, recorded_outside):
            proc.wait(timeout=10)  # our children: reaped here, killed by the cleanup
            assert proc.returncode == -9
            assert not process_alive(proc.pid)
        assert await netns.list_netns(prefix) == []
        assert sh("ip", "link", "show", net.host_veth).returncode != 0
        assert sh("ip", "link", "show", bridge).returncode != 0
        assert not mounted(mount)
        assert not (tmp_path / "mp").exists()
        assert list((state / "procs").glob("*.json")) == []
    finally:
        # Whatever failed above, nothing of this test outlives it (hack/check-clean.sh).
        for proc in procs:
            kill_group(proc)
        if mounted(mount):
            sh("umount", "-l", str(mount))
        for name in await netns.list_netns(prefix):
            await netns.teardown_pod_network(name)
        sh("ip", "link", "del", bridge)
