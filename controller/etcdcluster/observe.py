"""Gathers everything the planner needs about one cluster into a frozen snapshot.

Kubernetes objects come from the operator's cache (pods, PVCs, Services labelled etcd_cluster);
TLS Secrets are read from the API; etcd's view comes from the members themselves, reached at
their pod IPs (with the member's DNS name for certificate checks). The member list is read
linearizably, so a cluster without quorum yields no etcd view at all and the planner waits.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from api import EtcdCluster
from controller.cache import join_key
from controller.clients.etcd import (
    Endpoint,
    EndpointStatus,
    EtcdClient,
    EtcdClientError,
    Member,
    TLSMaterial,
)
from controller.clients.kube import ApiError, KubeClient
from controller.etcdcluster import naming
from controller.etcdcluster.resources import Obj, data_claim_name
from controller.manager import Cache
from controller.resources import PODS, PVCS, SECRETS, SERVICES

# Builds a client for one member endpoint; tests and later issues may swap it.
EtcdConnector = Callable[[Endpoint, TLSMaterial | None], EtcdClient]
OPERATOR_CA, OPERATOR_CERT, OPERATOR_KEY = (
    "etcd-client-ca.crt",
    "etcd-client.crt",
    "etcd-client.key",
)


@dataclass(frozen=True)
class PodView:
    name: str
    phase: str
    ready: bool
    ip: str | None
    terminating: bool
    claim: str | None  # the PVC holding its data, None for an emptyDir
    version: str | None  # the etcd.version annotation it was created with


@dataclass(frozen=True)
class MemberView:
    """An etcd member, the pod its peer URL names, and its status if it answered."""

    member: Member
    pod: str | None
    status: EndpointStatus | None

    @property
    def healthy(self) -> bool:
        return self.member.started and self.status is not None and not self.status.errors


@dataclass(frozen=True)
class EtcdView:
    members: tuple[MemberView, ...]

    @property
    def leader(self) -> int:
        """The leader the answering members agree on, 0 when none or they disagree."""
        leaders = {m.status.leader for m in self.members if m.status is not None}
        return leaders.pop() if len(leaders) == 1 else 0

    @property
    def voting(self) -> tuple[MemberView, ...]:
        return tuple(m for m in self.members if not m.member.is_learner)

    @property
    def learners(self) -> tuple[MemberView, ...]:
        return tuple(m for m in self.members if m.member.is_learner)


@dataclass(frozen=True)
class TLSView:
    missing_secrets: tuple[str, ...] = ()
    client: TLSMaterial | None = None  # the operator's client certificate, when secure


@dataclass(frozen=True)
class Observed:
    cluster: EtcdCluster
    pods: tuple[PodView, ...] = ()
    pvcs: tuple[str, ...] = ()
    services: frozenset[str] = frozenset()
    tls: TLSView = field(default_factory=TLSView)
    etcd: EtcdView | None = None
    etcd_error: str | None = None

    @property
    def live_pods(self) -> tuple[PodView, ...]:
        return tuple(p for p in self.pods if not p.terminating)

    def pod(self, name: str | None) -> PodView | None:
        return next((p for p in self.pods if p.name == name), None)


def pod_view(pod: Obj) -> PodView:
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return PodView(
        name=meta.get("name", ""),
        phase=status.get("phase", ""),
        ready=ready,
        ip=status.get("podIP") or None,
        terminating=bool(meta.get("deletionTimestamp")),
        claim=data_claim_name(pod),
        version=(meta.get("annotations") or {}).get(naming.VERSION_ANNOTATION),
    )


async def observe(
    cluster: EtcdCluster, cache: Cache, kube: KubeClient, connect: EtcdConnector = EtcdClient
) -> Observed:
    key = join_key(cluster.namespace, cluster.name)
    name = cluster.name
    pods = tuple(
        sorted(
            (
                pod_view(p)
                for p in cache.owned_by_cluster(PODS, key)
                if naming.is_member_name(name, p["metadata"]["name"])
            ),
            key=lambda p: p.name,
        )
    )
    pvcs = tuple(
        sorted(
            p["metadata"]["name"]
            for p in cache.owned_by_cluster(PVCS, key)
            if naming.is_member_name(name, p["metadata"]["name"])
            and not p["metadata"].get("deletionTimestamp")
        )
    )
    services = frozenset(s["metadata"]["name"] for s in cache.owned_by_cluster(SERVICES, key))
    tls = await observe_tls(cluster, kube)
    observed = Observed(cluster=cluster, pods=pods, pvcs=pvcs, services=services, tls=tls)
    if tls.missing_secrets or not any(p.ip and not p.terminating for p in pods):
        return observed
    try:
        etcd = await observe_etcd(observed, connect)
    except EtcdClientError as exc:
        return replace(observed, etcd_error=str(exc))
    return replace(observed, etcd=etcd)


async def observe_tls(cluster: EtcdCluster, kube: KubeClient) -> TLSView:
    static = cluster.spec.static_tls
    wanted = [static.member.peer_secret, static.member.server_secret] if static.member else []
    wanted.append(static.operator_secret)
    found: dict[str, Obj] = {}
    missing: list[str] = []
    for secret in filter(None, wanted):
        try:
            found[secret] = await kube.get(SECRETS, secret, cluster.namespace)
        except ApiError as exc:
            if not exc.not_found:
                raise
            missing.append(secret)
    client = None
    if static.operator_secret and static.operator_secret in found:
        data = found[static.operator_secret].get("data") or {}
        keys = (OPERATOR_CA, OPERATOR_CERT, OPERATOR_KEY)
        if all(k in data for k in keys):
            ca, cert, key = (base64.b64decode(data[k]) for k in keys)
            client = TLSMaterial(ca=ca, cert=cert, key=key)
        else:
            missing.append(f"{static.operator_secret} ({', '.join(keys)})")
    return TLSView(missing_secrets=tuple(missing), client=client)


def endpoint_of(observed: Observed, pod: PodView) -> Endpoint:
    cluster = observed.cluster
    host = naming.member_host(
        pod.name, cluster.name, cluster.namespace, cluster.spec.pod.cluster_domain
    )
    return Endpoint(address=f"{pod.ip}:{naming.CLIENT_PORT}", server_name=host)


async def observe_etcd(observed: Observed, connect: EtcdConnector) -> EtcdView:
    """The member list (from the first member that answers) and each member's status."""
    tls = observed.tls.client
    candidates = sorted(
        (p for p in observed.live_pods if p.ip), key=lambda p: (not p.ready, p.name)
    )
    members: list[Member] | None = None
    errors: list[str] = []
    for pod in candidates:
        try:
            async with connect(endpoint_of(observed, pod), tls) as client:
                members = await client.member_list()
            break
        except EtcdClientError as exc:
            errors.append(str(exc))
    if members is None:
        raise EtcdClientError("; ".join(errors) or "no member reachable")

    cluster = observed.cluster

    async def status_of(member: Member) -> MemberView:
        pod_name = _pod_of(member, cluster)
        pod = observed.pod(pod_name)
        status = None
        if member.started and pod is not None and pod.ip and not pod.terminating:
            try:
                async with connect(endpoint_of(observed, pod), tls) as client:
                    status = await client.status()
            except EtcdClientError:
                status = None
        return MemberView(member=member, pod=pod_name, status=status)

    views = await asyncio.gather(*(status_of(m) for m in members))
    return EtcdView(members=tuple(sorted(views, key=lambda v: v.pod or "")))


def _pod_of(member: Member, cluster: EtcdCluster) -> str | None:
    for url in member.peer_urls:
        pod = naming.pod_name_from_peer_url(url, cluster.name, cluster.namespace)
        if pod:
            return pod
    return None
