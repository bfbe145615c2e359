"""Real etcd members as local processes on loopback ports, for tests of the etcd client.

The binaries are the ones `make tools` builds, one directory per minor under .local/bin
(`etcd-3.6/etcd`, `etcd-3.7/etcd`). Members listen on 127.0.0.1 only and run with
`--unsafe-no-fsync` (test speed; durability is not under test). TLS material is made with
the openssl CLI the way hack/seed-tls.sh makes the seed's: one EC CA, certificates naming
every form a client uses.
"""

from __future__ import annotations

import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from controller.clients.etcd import Endpoint, TLSMaterial

ROOT = Path(__file__).resolve().parent.parent
MINORS = ("3.6", "3.7")
HOST = "127.0.0.1"
# Members answer health in well under a second here; a loaded 2-core machine starting a
# member (or electing a leader after a restart) can take several.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
T = TypeVar("T")
# SIGKILL the member when the test process dies, so no etcd outlives a killed run. (Not a
# preexec_fn: forking a Python process whose gRPC threads run breaks the child.) Linux ties
# this to the thread that started it: start members from the test's thread.
DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "KILL", "--"]


def etcd_binary(minor: str) -> Path:
    path = ROOT / ".local" / "bin" / f"etcd-{minor}" / "etcd"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make tools`")
    return path


def free_port() -> int:
    """A port the kernel just handed out on loopback (free until someone else binds it)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Polls `check` until it returns something other than None or False."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.05)


@dataclass(frozen=True)
class CertFiles:
    ca: Path
    cert: Path
    key: Path

    def material(self) -> TLSMaterial:
        return TLSMaterial(self.ca.read_bytes(), self.cert.read_bytes(), self.key.read_bytes())


class CA:
    """A certificate authority in `directory`, issuing EC certificates with the openssl CLI."""

    def __init__(self, directory: Path, name: str):
        self.dir = directory
        self.name = name
        directory.mkdir(parents=True, exist_ok=True)
        self.cert, self.key = directory / f"{name}.crt", directory / f"{name}.key"
        _openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-keyout", self.key, "-out", self.cert, "-subj", f"/CN={name}",
        )  # fmt: skip

    def issue(self, name: str, usage: str, san: str = "") -> CertFiles:
        """A certificate for extendedKeyUsage `usage` (serverAuth, clientAuth) and SANs."""
        key, csr, crt, ext = (
            self.dir / f"{self.name}-{name}.{s}" for s in ("key", "csr", "crt", "ext")
        )
        _openssl(
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", key, "-subj", f"/CN={name}", "-out", csr,
        )  # fmt: skip
        ext.write_text(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
            f"extendedKeyUsage={usage}\n" + (f"subjectAltName={san}\n" if san else "")
        )
        _openssl(
            "x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key, "-CAcreateserial",
            "-days", "1", "-extfile", ext, "-out", crt,
        )  # fmt: skip
        return CertFiles(self.cert, crt, key)


def _state(stat: Path) -> str:
    """The state letter of /proc/<pid>/task/<tid>/stat (after the parenthesised name)."""
    try:
        return stat.read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:  # the thread ended
        return "T"


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


# The DNS name a member's certificate carries and the client checks, as the operator's
# `<pod>.<cluster>.<ns>.svc` (resolution is not involved: the client dials 127.0.0.1).
MEMBER_DOMAIN = "test.default.svc"


@dataclass(frozen=True)
class MemberTLS:
    """Server and peer certificates of a member. Their CA is the one it trusts: clients
    must present a certificate of that CA (`--client-cert-auth`)."""

    server: CertFiles
    peer: CertFiles


def member_tls(ca: CA, name: str) -> MemberTLS:
    san = f"DNS:*.{MEMBER_DOMAIN},DNS:localhost,IP:{HOST}"
    return MemberTLS(
        server=ca.issue(f"{name}-server", "serverAuth,clientAuth", san),
        peer=ca.issue(f"{name}-peer", "serverAuth,clientAuth", san),
    )


class EtcdProc:
    """One etcd process; ports are chosen at creation and kept across restarts."""

    def __init__(self, minor: str, name: str, workdir: Path, tls: MemberTLS | None = None):
        self.minor = minor
        self.name = name
        self.tls = tls
        self.data_dir = workdir / f"{name}.etcd"
        self.log_path = workdir / f"{name}.log"
        self.client_port, self.peer_port = free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def client_url(self) -> str:
        return f"{self.scheme}://{HOST}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"{self.scheme}://{HOST}:{self.peer_port}"

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(f"{HOST}:{self.client_port}", f"{self.name}.{MEMBER_DOMAIN}")

    def start(self, initial_cluster: Sequence[EtcdProc], state: str = "new") -> None:
        """Starts the process (returns at once; `wait_healthy` waits for it to serve)."""
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} is running"
        args = [
            str(etcd_binary(self.minor)),
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            "--initial-cluster=" + ",".join(f"{m.name}={m.peer_url}" for m in initial_cluster),
            f"--initial-cluster-state={state}",
            "--initial-cluster-token=etcdproc",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]
        if self.tls:
            s, p = self.tls.server, self.tls.peer
            args += [
                f"--cert-file={s.cert}", f"--key-file={s.key}", f"--trusted-ca-file={s.ca}",
                "--client-cert-auth",
                f"--peer-cert-file={p.cert}", f"--peer-key-file={p.key}",
                f"--peer-trusted-ca-file={p.ca}", "--peer-client-cert-auth",
            ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                DIE_WITH_PARENT + args, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def healthy(self) -> bool:
        """etcd's /health: this member is up and its cluster has a leader and quorum."""
        if not self.running:
            raise AssertionError(f"etcd {self.name} exited:\n{self.log_tail()}")
        try:
            return b'"health":"true"' in self._get("/health")
        except OSError:
            return False

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        wait_until(self.healthy, timeout, f"etcd {self.name} healthy")

    def metric(self, name: str) -> list[float]:
        """The values of every sample of a Prometheus metric on /metrics."""
        lines = self._get("/metrics").decode().splitlines()
        return [float(line.rpartition(" ")[2]) for line in lines if line.startswith(name + "{")]

    def _get(self, path: str) -> bytes:
        """GET on the client URL, as a client with the member's own certificate (clientAuth)."""
        context = None
        if self.tls:
            context = ssl.create_default_context(cafile=self.tls.server.ca)
            context.load_cert_chain(self.tls.server.cert, self.tls.server.key)
        with urllib.request.urlopen(self.client_url + path, timeout=5, context=context) as r:
            return bytes(r.read())

    def stop(self) -> None:
        self.kill()
        self.wait_stopped()

    def kill(self) -> None:
        """SIGKILL: a crash. Tests need members gone, not graceful (a graceful stop hands
        leadership over first, seconds per member); the data dir survives for a restart."""
        if self.running:
            assert self.proc is not None
            self.proc.kill()

    def wait_stopped(self) -> None:
        if self.proc is not None:
            self.proc.wait(STOP_TIMEOUT)

    def pause(self) -> None:
        """SIGSTOP: a wedged member. The kernel still accepts connections; nothing answers.

        Returns once every thread is stopped: a signal is delivered asynchronously, and a
        thread still running could answer a request sent just after."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        tasks = Path(f"/proc/{self.proc.pid}/task")
        wait_until(
            lambda: all(_state(t / "stat") == "T" for t in tasks.iterdir()),
            STOP_TIMEOUT,
            f"etcd {self.name} stopped",
        )

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class LocalEtcd:
    """The etcd processes of one test, in its own directory; `stop_all` ends every one."""

    def __init__(self, minor: str, workdir: Path):
        self.minor = minor
        self.workdir = workdir
        self.procs: list[EtcdProc] = []

    def member(self, name: str, ca: CA | None = None) -> EtcdProc:
        """A member not started yet (its ports are chosen): for MemberAdd, then `start`."""
        proc = EtcdProc(self.minor, name, self.workdir, member_tls(ca, name) if ca else None)
        self.procs.append(proc)
        return proc

    def cluster(self, size: int, ca: CA | None = None) -> list[EtcdProc]:
        """`size` members bootstrapped together (a static initial cluster), serving health."""
        members = [self.member(f"m{i}", ca) for i in range(size)]
        for m in members:
            m.start(members)
        for m in members:
            m.wait_healthy()
        return members

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            proc.wait_stopped()
