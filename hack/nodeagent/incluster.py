"""`hack/in-cluster CMD...`: run a host command inside the local cluster's pod network.

The command gets a network namespace of its own (`eo-ic-<pid>`) on the cluster bridge with an
address from 10.213.250.0/24, and a private mount namespace (`ip netns exec` makes one) in
which /etc/resolv.conf is the one a pod in $IN_CLUSTER_NAMESPACE (default: default) would
have. So it reaches pods by IP, resolves cluster names through the cluster DNS, and reaches the
API server at 10.213.0.1:6443 like a pod does. stdin/stdout/stderr and the exit code pass
through, signals are forwarded, and the namespace is removed afterwards; a run killed with
SIGKILL is cleaned up by the next run (or by `nodeagent cleanup`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from nodeagent import netns

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".local" / "run" / "in-cluster"
POOL = ipaddress.ip_network("10.213.250.0/24")
NETNS_PREFIX = "eo-ic-"
FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)

# Bind the prepared resolv.conf over /etc/resolv.conf, then become the command.
BIND_AND_EXEC = 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"'


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    STATE.mkdir(parents=True, exist_ok=True)
    with open(STATE / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    """Whether `pid` is still an in-cluster run (a dead or reused pid is not)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"incluster" in cmdline


def _reap_stale() -> None:
    """Removes what runs killed without cleaning up left behind. Called under the lock."""
    for lease in STATE.glob("10.*"):
        try:
            pid = int(lease.read_text().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if not _alive(pid):
            asyncio.run(_teardown(f"{NETNS_PREFIX}{pid}"))
            lease.unlink(missing_ok=True)
    for name in asyncio.run(netns.list_netns(NETNS_PREFIX)):
        pid_text = name.removeprefix(NETNS_PREFIX)
        if pid_text.isdigit() and not _alive(int(pid_text)):
            asyncio.run(_teardown(name))


def _lease_ip(pid: int) -> str:
    """A free address of the pool, recorded as taken by `pid`. Called under the lock."""
    for addr in list(POOL.hosts())[1:]:  # .1 stays unused: it looks like a gateway
        lease = STATE / str(addr)
        if not lease.exists():
            lease.write_text(f"{pid}\n")
            return str(addr)
    raise SystemExit("in-cluster: no free address in 10.213.250.0/24 (too many runs?)")


async def _teardown(name: str) -> None:
    await netns.teardown_pod_network(name)
    (STATE / f"{name}.resolv.conf").unlink(missing_ok=True)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    extra = [str(ROOT / ".local" / "bin"), str(ROOT / ".venv" / "bin")]
    env["PATH"] = os.pathsep.join([*extra, env.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")])
    kubeconfig = ROOT / ".local" / "kubeconfig"
    if "KUBECONFIG" not in env and kubeconfig.exists():
        env["KUBECONFIG"] = str(kubeconfig)
    return env


def _run(name: str, resolv: Path, argv: list[str]) -> int:
    """Runs the command in the namespace; returns its exit status (128+n if killed by n)."""
    cmd = ["ip", "netns", "exec", name, "sh", "-c", BIND_AND_EXEC, "sh", str(resolv), *argv]
    child = subprocess.Popen(cmd, env=_child_env())

    def forward(signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGINT and _terminal_sent_it():
            return  # the terminal signalled our whole process group, the child included
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    for sig in (*FORWARDED, signal.SIGINT):
        signal.signal(sig, forward)
    code = child.wait()
    return 128 - code if code < 0 else code


def _terminal_sent_it() -> bool:
    try:
        return os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: hack/in-cluster CMD [ARGS...]", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("in-cluster: needs root (network namespaces)", file=sys.stderr)
        return 1
    bridge = os.environ.get("CLUSTER_BRIDGE", "eo0")
    gateway = os.environ.get("CLUSTER_GATEWAY", "10.213.0.1")
    if not Path(f"/sys/class/net/{bridge}").exists():
        print(f"in-cluster: bridge {bridge} missing; run `make cluster-up`", file=sys.stderr)
        return 1
    pid = os.getpid()
    name = f"{NETNS_PREFIX}{pid}"
    resolv = STATE / f"{name}.resolv.conf"
    namespace = os.environ.get("IN_CLUSTER_NAMESPACE", "default")
    domain = os.environ.get("CLUSTER_DOMAIN", "cluster.local")
    dns = os.environ.get("CLUSTER_DNS", gateway)
    ip = ""
    # Signals during setup must not leave a half-built namespace behind: defer them.
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {*FORWARDED, signal.SIGINT})
    try:
        with _locked():
            _reap_stale()
            ip = _lease_ip(pid)
        resolv.write_text(netns.resolv_conf(namespace, nameserver=dns, domain=domain))
        asyncio.run(netns.setup_pod_network(name, ip, bridge=bridge, gateway=gateway, prefix=16))
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        return _run(name, resolv, argv)
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, {*FORWARDED, signal.SIGINT})
        asyncio.run(_teardown(name))
        if ip:
            with _locked():
                (STATE / ip).unlink(missing_ok=True)
