"""TLS material for the seed's three Secrets, made with the openssl CLI, keeping the CA key
so tests can renew certificates under the same CA or move to a new one."""

from __future__ import annotations

import base64
import subprocess
from dataclasses import dataclass
from pathlib import Path

EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(cwd: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@dataclass(frozen=True)
class CA:
    dir: Path
    name: str

    @property
    def cert(self) -> Path:
        return self.dir / f"{self.name}.crt"

    @classmethod
    def create(cls, into: Path, name: str) -> CA:
        into.mkdir(parents=True, exist_ok=True)
        _openssl(into, "req", "-x509", *EC, "-days", "2", "-keyout", f"{name}.key",
                 "-out", f"{name}.crt", "-subj", f"/CN={name}")  # fmt: skip
        return cls(into, name)

    def issue(self, leaf: str, usage: str, san: str = "") -> tuple[bytes, bytes]:
        """(certificate, key) PEM of a leaf signed by this CA."""
        d = self.dir
        _openssl(d, "req", "-new", *EC, "-keyout", f"{leaf}.key", "-out", f"{leaf}.csr",
                 "-subj", f"/CN={leaf}")  # fmt: skip
        ext = f"basicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n"
        (d / f"{leaf}.ext").write_text(ext + (f"subjectAltName={san}\n" if san else ""))
        _openssl(d, "x509", "-req", "-in", f"{leaf}.csr", "-CA", self.cert.name,
                 "-CAkey", f"{self.name}.key", "-CAcreateserial", "-days", "2",
                 "-extfile", f"{leaf}.ext", "-out", f"{leaf}.crt")  # fmt: skip
        return (d / f"{leaf}.crt").read_bytes(), (d / f"{leaf}.key").read_bytes()


def seed_secrets(cluster: str, ns: str, signer: CA, trusted: list[CA]) -> dict[str, dict[str, str]]:
    """The data of etcd-addops-{peer,server,client}-tls: leaves signed by `signer`, CA files
    holding every CA of `trusted` (a bundle while a CA is replaced)."""
    members = f"DNS:*.{cluster}.{ns}.svc,DNS:*.{cluster}.{ns}.svc.cluster.local"
    clients = f"DNS:{cluster}-client.{ns}.svc,DNS:{cluster}-client.{ns}.svc.cluster.local"
    bundle = b"".join(ca.cert.read_bytes() for ca in trusted)
    peer = signer.issue("peer", "serverAuth,clientAuth", members)
    server = signer.issue("server", "serverAuth,clientAuth", f"{members},{clients}")
    client = signer.issue("client", "clientAuth")

    def data(ca: str, crt: str, key: str, leaf: tuple[bytes, bytes]) -> dict[str, str]:
        files = {ca: bundle, crt: leaf[0], key: leaf[1]}
        return {k: base64.b64encode(v).decode() for k, v in files.items()}

    return {
        "etcd-addops-peer-tls": data("peer-ca.crt", "peer.crt", "peer.key", peer),
        "etcd-addops-server-tls": data("server-ca.crt", "server.crt", "server.key", server),
        "etcd-addops-client-tls": data(
            "etcd-client-ca.crt", "etcd-client.crt", "etcd-client.key", client
        ),
    }
