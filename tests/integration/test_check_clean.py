"""hack/check-clean.sh names what a test or the environment can leave behind, and only that.

Each thing is made the way a test or a pod leaks it — a process in a network namespace of
ours (test_cleanup's `sleep 601`), a pod's process and its child after their namespace is
gone, a test's child, a process of a shell that sourced .local/env, the links and mounts a
test makes — and check-clean must name it with what ties it here; an unrelated process must
not be named. check-clean only reads /proc and `ip`, so this runs beside the shared
environment, whose own processes it then lists too: the assertions look only at this test's
things, and after they are removed, none of them is named any more. Needs root (namespaces,
mounts), like the environment.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
CHECK_CLEAN = ROOT / "hack" / "check-clean.sh"
PLAIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def gateway() -> str:
    text = (ROOT / "hack" / "control-plane.sh").read_text()
    found = re.search(r"^GATEWAY=(\S+)$", text, re.MULTILINE)
    assert found
    return found.group(1)


def sh(*args: str | Path) -> None:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(map(str, args))}: {proc.stderr}"


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Generous: a loaded 2-core machine may not schedule a new process for seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.05)


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def same_file(a: str, b: str) -> bool:
    try:
        sa, sb = os.stat(a), os.stat(b)
    except FileNotFoundError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


class Leaks:
    """What the test makes, each removed at the end whatever happened."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.links: list[str] = []
        self.netns: list[str] = []
        self.mounts: list[Path] = []
        self.dirs: list[Path] = []

    def spawn(
        self, *argv: str | Path, cwd: str | Path = "/", env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [str(a) for a in argv],
            cwd=cwd,
            env=env if env is not None else {"PATH": PLAIN_PATH},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def mount_tmpfs(self, at: Path) -> Path:
        at.mkdir(parents=True, exist_ok=True)
        sh("mount", "-t", "tmpfs", "none", at)
        self.mounts.append(at)
        return at

    def remove(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        for mount in reversed(self.mounts):
            subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)
        for link in self.links:
            subprocess.run(["ip", "link", "del", link], capture_output=True, check=False)
        for ns in self.netns:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        for directory in self.dirs:
            subprocess.run(["rm", "-rf", str(directory)], check=False)


@pytest.fixture
def leaks() -> Iterator[Leaks]:
    made = Leaks()
    try:
        yield made
    finally:
        made.remove()


def check_clean() -> tuple[int, dict[str, str]]:
    """check-clean's exit code and what it names: 'process <pid>' / 'link <name>' / … → why."""
    proc = subprocess.run([CHECK_CLEAN], capture_output=True, text=True, timeout=120, check=False)
    named: dict[str, str] = {}
    for line in proc.stderr.splitlines():
        item = line.removeprefix("check-clean: left behind: ")
        if item == line:
            continue
        process = re.match(r"(process \d+) \((.*?)\): ", item)
        link = re.match(r"(link \S+)(?: \((.*)\))?$", item)
        if process:
            named[process.group(1)] = process.group(2)
        elif link:
            named[link.group(1)] = link.group(2) or ""
        else:
            named[item] = ""
    return proc.returncode, named


def test_check_clean_names_every_kind_of_leftover(leaks: Leaks, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:4]
    ns, bridge = f"eot{tag}-1-0", f"eot{tag}"
    veth, bridged = f"cc{tag}v", f"cc{tag}b"  # names check-clean cannot know: not eo*

    # Like test_cleanup's stray: `sleep 601` that `ip netns exec` moved into a namespace of
    # ours, nothing else tying it here (not started from the checkout, a plain environment).
    sh("ip", "netns", "add", ns)
    leaks.netns.append(ns)
    in_ns = leaks.spawn("ip", "netns", "exec", ns, "sleep", "601")
    wait_until(lambda: same_file(f"/proc/{in_ns.pid}/ns/net", f"/run/netns/{ns}"), "in netns")
    # A veth whose other end is in that namespace; a bridge of ours and a link on it.
    sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
    leaks.links.append(veth)
    sh("ip", "link", "add", bridge, "type", "bridge")
    leaks.links.append(bridge)
    sh("ip", "link", "add", bridged, "type", "veth", "peer", "name", f"cc{tag}p")
    leaks.links.append(bridged)
    sh("ip", "link", "set", bridged, "master", bridge)

    # A pod's process (or a child it forked, which keeps its environment) after its network
    # namespace is gone: the API server's address as pods see it.
    pod_like = leaks.spawn(
        "sleep", "602", env={"PATH": PLAIN_PATH, "KUBERNETES_SERVICE_HOST": gateway()}
    )
    # Started from a shell that sourced .local/env (PATH to the environment's tools).
    env_user = leaks.spawn("sleep", "603", env={"PATH": f"{ROOT}/.local/bin:{PLAIN_PATH}"})
    # A test's child: started in the checkout, where pytest runs.
    test_child = leaks.spawn("sleep", "604", cwd=ROOT)
    # A program given a file of the checkout.
    reader = leaks.spawn("tail", "-f", ROOT / "pyproject.toml")
    # A pod's child in the pod's mount namespace, holding a volume of the checkout's .local/
    # mounted elsewhere (so only the mount's source ties it here).
    volume = ROOT / ".local" / f"check-clean-{tag}"
    volume.mkdir()
    leaks.dirs.append(volume)
    mount_point = Path(tempfile.mkdtemp(prefix="check-clean-", dir="/var/tmp"))
    leaks.dirs.append(mount_point)
    in_pod_mounts = leaks.spawn(
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount --bind "$0" "$1" && exec sleep 605',
        volume,
        mount_point,
    )
    wait_until(lambda: cmdline(in_pod_mounts.pid) == b"sleep\x00605\x00", "the mount and exec")
    # Mounts a test made: under pytest's temp dir, and under the checkout.
    tmp_mount = leaks.mount_tmpfs(tmp_path / "mnt")
    checkout_mount = leaks.mount_tmpfs(volume / "mnt")
    # Not ours: a process with nothing that ties it to the checkout.
    unrelated = leaks.spawn("sleep", "606")

    code, named = check_clean()

    assert code == 1
    assert named[f"network namespace {ns}"] == ""
    assert f"in network namespace {ns}" in named[f"process {in_ns.pid}"]
    assert named[f"link {veth}"] == f"its other end in network namespace {ns}"
    assert named[f"link {bridge}"] == ""
    assert named[f"link {bridged}"] == f"on bridge {bridge}"
    assert named[f"process {pod_like.pid}"] == "environment KUBERNETES_SERVICE_HOST"
    assert named[f"process {env_user.pid}"] == "environment PATH"
    assert named[f"process {test_child.pid}"] == f"working directory {ROOT}"
    assert named[f"process {reader.pid}"] == "command line"
    assert named[f"process {in_pod_mounts.pid}"] == f"mounts {mount_point}"
    assert f"mount {tmp_mount}" in named
    assert f"mount {checkout_mount}" in named
    assert f"process {unrelated.pid}" not in named

    leaks.remove()
    _, named = check_clean()
    ours = {f"process {p.pid}" for p in leaks.procs} | {f"link {n}" for n in leaks.links}
    ours |= {f"network namespace {ns}", f"mount {tmp_mount}", f"mount {checkout_mount}"}
    assert ours.isdisjoint(named), ours & named.keys()
