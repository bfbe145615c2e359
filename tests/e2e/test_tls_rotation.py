"""TLS rotation on the real environment, on the seed's TLS cluster:
renewed certificates under the same CA reach running members without a restart (etcd
reloads them at every handshake) and reach the operator; a CA replaced through a bundle
(old + new CA, then new certificates, then the new CA alone) rolls every member twice,
one at a time — the same members, their data, and a serving leader all along.

A write load runs through the client Service all along, presenting a valid client
certificate: one with the first client certificate (of the old CA) and a client CA file
holding both CAs — what a client is handed before its servers move to the new CA — until
the members serve certificates of the new CA; then one with the new client certificate
through the drop of the old CA. After each: every acknowledged write reads back, no read
went back in time, one KV hash on every member (tests/e2e/consistency.py)."""

from __future__ import annotations

import asyncio
import base64
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.clients.kube import EVENTS, SECRETS, ApiError, KubeClient
from tests.e2e.consistency import scenario_consistent
from tests.e2e.operator import (
    IN_CLUSTER,
    Etcdctl,
    Operator,
    apply_cluster,
    cluster_status,
    eventually,
    member_pods,
    running_with,
)
from tests.e2e.test_heal import members_by_name
from tests.e2e.tlsmaterial import CA, seed_secrets
from tests.e2e.writeload import WriteLoad
from tests.seed import CLUSTER, load_seed, set_field

pytestmark = pytest.mark.e2e
NAME = "example"


async def put_secrets(kube: KubeClient, ns: str, secrets: dict[str, dict[str, str]]) -> None:
    for name, data in secrets.items():
        body = {"metadata": {"name": name, "namespace": ns}, "data": data}
        try:
            await kube.replace(SECRETS, body)
        except ApiError as exc:
            if not exc.not_found:
                raise
            await kube.create(SECRETS, body)


def client_dir(into: Path, secrets: dict[str, dict[str, str]]) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    for key, value in secrets["etcd-addops-client-tls"].items():
        (into / key).write_bytes(base64.b64decode(value))
    return into


def served_certificate(env: dict[str, str], ip: str) -> bytes:
    """The certificate a member presents on its client port (PEM)."""
    proc = subprocess.run(
        [IN_CLUSTER, "openssl", "s_client", "-connect", f"{ip}:2379", "-showcerts"],
        input="",
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    text = proc.stdout
    start, end = text.find("-----BEGIN CERTIFICATE-----"), text.find("-----END CERTIFICATE-----")
    return text[start : end + len("-----END CERTIFICATE-----")].encode() if start >= 0 else b""


class AvailabilityLog:
    """Samples the Available condition in the background."""

    def __init__(self, kube: KubeClient, ns: str):
        self.seen: set[str] = set()
        self._task = asyncio.create_task(self._poll(kube, ns))

    async def _poll(self, kube: KubeClient, ns: str) -> None:
        while True:
            status = await cluster_status(kube, ns, NAME)
            for c in status.get("conditions") or []:
                if c["type"] == "Available":
                    self.seen.add(c["status"])
            await asyncio.sleep(0.5)

    async def stop(self) -> set[str]:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return self.seen


@pytest.mark.timeout(900)  # two 3-member rolls, each waiting for the 60 s Secret refresh
async def test_renewed_certificates_and_a_replaced_ca_reach_members_and_operator(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
    tmp_path: Path,
) -> None:
    old, new = CA.create(tmp_path / "ca1", "ca-one"), CA.create(tmp_path / "ca2", "ca-two")
    secrets = seed_secrets(NAME, namespace, old, [old])
    await put_secrets(kube, namespace, secrets)
    doc = load_seed(CLUSTER)
    set_field(doc, "metadata.namespace", namespace)
    apply_cluster(kubectl, doc)
    operators()
    await eventually(running_with(kube, namespace, NAME, 3), "3 ready members")
    etcdctl = Etcdctl(local_env, namespace, NAME, client_dir(tmp_path / "c0", secrets))
    await etcdctl.members_once_served()
    await asyncio.to_thread(etcdctl, "put", "kept", "through rotations")
    ids = await asyncio.to_thread(members_by_name, etcdctl)
    # The first client certificate, trusting both CAs: valid until the old CA is dropped.
    first = client_dir(tmp_path / "load1", secrets)
    (first / "etcd-client-ca.crt").write_bytes(old.cert.read_bytes() + new.cert.read_bytes())
    available = AvailabilityLog(kube, namespace)

    async def rolled(count: int) -> bool:
        events = (await kube.list(EVENTS, namespace))["items"]
        done = sum(e["reason"] == "MemberRolling" for e in events) >= count
        return done and bool(await running_with(kube, namespace, NAME, 3)())

    async def serving(ca: CA) -> bool:
        """Every member presents a server certificate signed by `ca`."""
        want = secrets["etcd-addops-server-tls"]["server.crt"]
        pods = await member_pods(kube, namespace, NAME)
        certs = [
            await asyncio.to_thread(served_certificate, local_env, p["status"]["podIP"])
            for p in pods
            if (p.get("status") or {}).get("podIP")
        ]
        pem = base64.b64decode(want).strip()
        return len(certs) == 3 and all(c.strip() == pem for c in certs)

    async with WriteLoad(local_env, namespace, NAME, first) as first_load:
        await first_load.acknowledges(what="writes before the rotations")
        # 1. New certificates, same CA: no restart; the operator uses its new client
        # certificate.
        secrets = seed_secrets(NAME, namespace, old, [old])
        await put_secrets(kube, namespace, secrets)
        await eventually(lambda: serving(old), "members serving the renewed certificate", 180)
        events = (await kube.list(EVENTS, namespace))["items"]
        rolls = [
            (e["lastTimestamp"], e["message"]) for e in events if e["reason"] == "MemberRolling"
        ]
        assert not rolls, f"a renewal under the same CA must not restart members: {rolls}"
        await first_load.acknowledges(what="writes after the renewal")

        # 2. The new CA joins the old one in every CA file: every member rolls to trust both.
        secrets = seed_secrets(NAME, namespace, old, [old, new])
        await put_secrets(kube, namespace, secrets)
        await eventually(lambda: rolled(3), "every member rolled to trust both CAs")
        # 3. Certificates from the new CA (trusted by all), then the old CA is dropped.
        secrets = seed_secrets(NAME, namespace, new, [old, new])
        await put_secrets(kube, namespace, secrets)
        await eventually(lambda: serving(new), "members serving certificates of the new CA", 180)
        await first_load.acknowledges(what="writes with the old CA's client certificate")
    consistent = await scenario_consistent(
        Etcdctl(local_env, namespace, NAME, first), first_load.journal()
    )
    print(f"renewal, CA bundle, new certificates: {consistent} ({first_load.path})")
    # The new client certificate (and CA bundle), through the drop of the old CA.
    second = client_dir(tmp_path / "load2", secrets)
    async with WriteLoad(local_env, namespace, NAME, second) as second_load:
        await second_load.acknowledges(what="writes with the new CA's client certificate")
        secrets = seed_secrets(NAME, namespace, new, [new])
        await put_secrets(kube, namespace, secrets)
        await eventually(lambda: rolled(6), "every member rolled to trust the new CA alone")
        await second_load.acknowledges(what="writes after the old CA was dropped")

    assert await available.stop() == {"True"}  # a leader served throughout
    etcdctl = Etcdctl(local_env, namespace, NAME, client_dir(tmp_path / "c3", secrets))
    consistent = await scenario_consistent(etcdctl, second_load.journal())
    print(f"old CA dropped: {consistent} ({second_load.path})")
    await etcdctl.members_once_served()
    assert await asyncio.to_thread(members_by_name, etcdctl) == ids
    got = await asyncio.to_thread(etcdctl, "get", "kept", "--print-value-only")
    assert got.strip() == "through rotations"
