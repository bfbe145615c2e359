"""Gathers everything the planner needs about one cluster into a frozen snapshot.

Kubernetes objects — pods, PVCs, Services labelled etcd_cluster, and the TLS Secrets the
spec names — come from the operator's cache: a steady pass makes no API request. etcd's
view comes from the members themselves, reached at their pod IPs (with the member's DNS
name for certificate checks) through a pool of long-lived connections: the member list is
asked of every live member at once (first answer wins) and read linearizably, so a cluster
without quorum yields no etcd view; then every member's status, in parallel. Without
quorum, the members' own (serializable) views are read instead, as `local`: what
quorum-loss recovery decides from, never what membership changes act on. The whole etcd
part runs under one deadline, so a fully-down cluster holds a worker for a bounded time,
not one timeout per member.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from api import EtcdCluster
from controller.clients.etcd import (
    Endpoint,
    EndpointStatus,
    EtcdClientError,
    EtcdPool,
    Member,
    TLSMaterial,
)
from controller.common.ownership import BY_CLUSTER
from controller.common.resources import (
    ETCD_BACKUPS,
    ETCD_RESTORES,
    NODES,
    PDBS,
    PODS,
    PVCS,
    SECRETS,
    SERVICES,
)
from controller.etcdcluster import naming
from controller.etcdcluster.backups import (
    BackupChoice,
    RestoreRequest,
    newest_backup,
    pending_restore,
)
from controller.etcdcluster.resources import Obj, data_claim_name, template_hash
from controller.runtime.cache import Cache
from controller.runtime.store import join_key

OPERATOR_CA, OPERATOR_CERT, OPERATOR_KEY = (
    "etcd-client-ca.crt",
    "etcd-client.crt",
    "etcd-client.key",
)
ETCD_DEADLINE = 8.0  # the whole etcd observation of one cluster
SELECTED_NODE = "volume.kubernetes.io/selected-node"
LAST_WORDS = 400  # characters of a failed container's last line shown in the status
# Container states a pod does not leave by itself (the user must fix the spec or the image).
STUCK_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff", "InvalidImageName",
     "CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
)  # fmt: skip


@dataclass(frozen=True)
class PodView:
    name: str
    phase: str
    ready: bool
    ip: str | None
    terminating: bool
    claim: str | None  # the PVC holding its data, None for an emptyDir
    version: str | None  # the etcd.version annotation it was created with
    stuck: str | None = None  # "<container>: <reason>: <message>" when it cannot start
    forced: bool = False  # started with --force-new-cluster (quorum-loss recovery)
    template: str | None = None  # the template hash of the spec it was made from
    restore_seed: bool = False  # a restore's seed pod, with the restoring init containers
    node: str | None = None  # spec.nodeName: where it was scheduled


@dataclass(frozen=True)
class MemberView:
    """An etcd member, the pod its peer URL names, and its status if it answered."""

    member: Member
    pod: str | None
    status: EndpointStatus | None

    @property
    def healthy(self) -> bool:
        # Alarms are the cluster's, listed by every member: not this member's health.
        return self.member.started and self.status is not None and not self.status.problems

    @property
    def label(self) -> str:
        """How messages name it: its pod, else its member ID."""
        return self.pod or f"{self.member.id:x}"


def majority(voters: int) -> int:
    """How many of `voters` form a quorum."""
    return voters // 2 + 1


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
    trust: str = ""  # digest of the CA certificates the member Secrets hold ("" without TLS)


@dataclass(frozen=True)
class NodeView:
    """A member pod's Node: Ready, or since when it is not (its Ready condition's last
    transition); a Node the cache does not have counts as not ready since unknown."""

    ready: bool
    since: datetime | None = None


@dataclass(frozen=True)
class Observed:
    cluster: EtcdCluster
    pods: tuple[PodView, ...] = ()
    pvcs: tuple[str, ...] = ()
    services: frozenset[str] = frozenset()
    budget: int | None = None  # the PodDisruptionBudget's minAvailable; None: no budget
    tls: TLSView = field(default_factory=TLSView)
    etcd: EtcdView | None = None
    etcd_error: str | None = None
    local: EtcdView | None = None  # without quorum: the members' own views (no leader)
    restore: RestoreRequest | None = None
    backups: tuple[Obj, ...] = ()  # the namespace's EtcdBackups, raw: see `backup`
    nodes: Mapping[str, NodeView] = field(default_factory=dict)  # the member pods' Nodes
    claim_nodes: Mapping[str, str] = field(default_factory=dict)  # PVC → the node it is bound to

    @property
    def live_pods(self) -> tuple[PodView, ...]:
        return tuple(p for p in self.pods if not p.terminating)

    @property
    def on_volumes(self) -> bool:
        """Members keep their data on PVCs (else on emptyDir, gone with their pods)."""
        return self.cluster.spec.pod.persistent_volume_claim_spec is not None

    @property
    def podless_volumes(self) -> list[str]:
        """Member volumes no pod (live or terminating) uses."""
        return [pvc for pvc in self.pvcs if self.pod(pvc) is None]

    @functools.cached_property
    def backup(self) -> BackupChoice | None:
        """The newest backup of this cluster, parsed only when a pass asks (a cluster that
        lost every member), not on every pass."""
        return newest_backup(self.cluster, list(self.backups))

    @functools.cached_property
    def template(self) -> str:
        """The template hash member pods of this spec and these CAs carry (computed once)."""
        return template_hash(self.cluster, self.tls.trust)

    def pod(self, name: str | None) -> PodView | None:
        return next((p for p in self.pods if p.name == name), None)


def pod_view(pod: Obj) -> PodView:
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    annotations = meta.get("annotations") or {}
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
        version=annotations.get(naming.VERSION_ANNOTATION),
        stuck=_stuck(status),
        forced=annotations.get(naming.FORCE_NEW_CLUSTER_ANNOTATION) == "true",
        template=annotations.get(naming.TEMPLATE_HASH_ANNOTATION),
        restore_seed=annotations.get(naming.RESTORE_SEED_ANNOTATION) == "true",
        node=(pod.get("spec") or {}).get("nodeName") or None,
    )


def node_view(node: Obj | None) -> NodeView:
    conditions = ((node or {}).get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    if ready is None:
        return NodeView(ready=False)
    if ready.get("status") == "True":
        return NodeView(ready=True)
    since = ready.get("lastTransitionTime")
    return NodeView(ready=False, since=datetime.fromisoformat(since) if since else None)


def _stuck(status: Obj) -> str | None:
    if status.get("phase") == "Failed":
        return f"pod failed: {status.get('reason') or ''} {status.get('message') or ''}".strip()
    for key in ("initContainerStatuses", "containerStatuses"):
        for c in status.get(key) or []:
            waiting = (c.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in STUCK_REASONS:
                message = _last_words(c) or waiting.get("message") or ""
                return f"{c.get('name')}: {waiting['reason']}: {message}".rstrip(": ")
    return None


def _last_words(container_status: Obj) -> str:
    """The last line a container that failed wrote (its termination message, which the seed's
    init containers fill from their log: terminationMessagePolicy FallbackToLogsOnError),
    cut to a readable length; "" when there is none."""
    terminated = (container_status.get("lastState") or {}).get("terminated") or {}
    lines = str(terminated.get("message") or "").strip().splitlines()
    return lines[-1][:LAST_WORDS] if lines else ""


def observe_cache(cluster: EtcdCluster, cache: Cache) -> Observed:
    """Everything Kubernetes knows about the cluster, from the cache alone."""
    key = join_key(cluster.namespace, cluster.name)
    name = cluster.name

    def members_of(res: object) -> list[Obj]:
        return [
            o
            for o in cache.by_index(res, BY_CLUSTER, key)  # type: ignore[arg-type]
            if naming.is_member_name(name, o["metadata"]["name"])
        ]

    pods = tuple(sorted((pod_view(p) for p in members_of(PODS)), key=lambda p: p.name))
    claims = [p for p in members_of(PVCS) if not p["metadata"].get("deletionTimestamp")]
    pvcs = tuple(sorted(p["metadata"]["name"] for p in claims))
    # A claim a WaitForFirstConsumer class bound on one node (a local volume) cannot follow
    # its pod elsewhere; network volumes (Immediate binding) carry no such annotation.
    claim_nodes = {
        p["metadata"]["name"]: node
        for p in claims
        if (node := (p["metadata"].get("annotations") or {}).get(SELECTED_NODE))
    }
    nodes = {p.node: node_view(cache.get(NODES, p.node)) for p in pods if p.node}
    services = frozenset(s["metadata"]["name"] for s in cache.by_index(SERVICES, BY_CLUSTER, key))
    budgets = [b for b in cache.by_index(PDBS, BY_CLUSTER, key) if b["metadata"]["name"] == name]
    budget = (budgets[0].get("spec") or {}).get("minAvailable") if budgets else None
    return Observed(
        cluster=cluster,
        pods=pods,
        pvcs=pvcs,
        services=services,
        budget=budget,
        tls=observe_tls(cluster, cache),
        restore=pending_restore(cluster, cache.get(ETCD_RESTORES, key)),
        backups=tuple(cache.list(ETCD_BACKUPS, cluster.namespace)),
        nodes=nodes,
        claim_nodes=claim_nodes,
    )


async def observe(cluster: EtcdCluster, cache: Cache, pool: EtcdPool) -> Observed:
    observed = observe_cache(cluster, cache)
    if observed.tls.missing_secrets or not any(p.ip for p in observed.live_pods):
        return observed
    try:
        async with asyncio.timeout(ETCD_DEADLINE):
            return await observe_etcd(observed, pool)
    except TimeoutError:
        return replace(observed, etcd_error=f"no answer from etcd within {ETCD_DEADLINE:.0f}s")


def secret_names(cluster: EtcdCluster) -> list[str]:
    """The Secrets the cluster's spec names (member peer/server, operator client)."""
    static = cluster.spec.static_tls
    wanted = [static.member.peer_secret, static.member.server_secret] if static.member else []
    wanted.append(static.operator_secret)
    return [s for s in wanted if s]


def observe_tls(cluster: EtcdCluster, cache: Cache) -> TLSView:
    found: dict[str, Obj] = {}
    missing: list[str] = []
    for secret in secret_names(cluster):
        obj = cache.get(SECRETS, join_key(cluster.namespace, secret))
        if obj is None:
            missing.append(secret)
        else:
            found[secret] = obj
    client = None
    operator_secret = cluster.spec.static_tls.operator_secret
    if operator_secret and operator_secret in found:
        data = found[operator_secret].get("data") or {}
        keys = (OPERATOR_CA, OPERATOR_CERT, OPERATOR_KEY)
        if all(k in data for k in keys):
            ca, cert, key = (base64.b64decode(data[k]) for k in keys)
            client = TLSMaterial(ca=ca, cert=cert, key=key)
        else:
            missing.append(f"{operator_secret} ({', '.join(keys)})")
    return TLSView(missing_secrets=tuple(missing), client=client, trust=_trust(found))


MEMBER_CA_FILES = ("peer-ca.crt", "server-ca.crt")


def _trust(secrets: dict[str, Obj]) -> str:
    """A digest of the members' CA files: changing it means restarting every member."""
    parts = [
        f"{name}/{key}={data[key]}"
        for name in sorted(secrets)
        for data in [secrets[name].get("data") or {}]
        for key in MEMBER_CA_FILES
        if key in data
    ]
    return hashlib.sha256(";".join(parts).encode()).hexdigest()[:16] if parts else ""


def endpoint_of(observed: Observed, pod: PodView) -> Endpoint:
    cluster = observed.cluster
    host = naming.member_host(
        pod.name, cluster.name, cluster.namespace, cluster.spec.pod.cluster_domain
    )
    return Endpoint(address=f"{pod.ip}:{naming.CLIENT_PORT}", server_name=host)


async def observe_etcd(observed: Observed, pool: EtcdPool) -> Observed:
    """etcd's view (the member list from the first member that answers, each member's
    status), or without quorum the members' own views."""
    tls = observed.tls.client
    endpoints = [endpoint_of(observed, p) for p in observed.live_pods if p.ip]
    try:
        _, members = await pool.member_list(endpoints, tls)
        return replace(observed, etcd=await _view(observed, pool, members))
    except EtcdClientError as exc:
        error = str(exc)
    try:
        _, members = await pool.member_list(endpoints, tls, linearizable=False)
    except EtcdClientError:
        return replace(observed, etcd_error=error)
    return replace(observed, etcd_error=error, local=await _view(observed, pool, members))


async def _view(observed: Observed, pool: EtcdPool, members: list[Member]) -> EtcdView:
    tls = observed.tls.client
    cluster = observed.cluster
    named = [(m, _pod_of(m, cluster)) for m in members]
    asked = {
        pod_name: endpoint_of(observed, pod)
        for m, pod_name in named
        if m.started
        and (pod := observed.pod(pod_name)) is not None
        and pod.ip
        and not pod.terminating
    }
    answers = await pool.statuses(list(asked.values()), tls)
    views = []
    for member, pod_name in named:
        endpoint = asked.get(pod_name) if pod_name else None
        answer = answers.get(endpoint) if endpoint else None
        status = answer if isinstance(answer, EndpointStatus) else None
        views.append(MemberView(member=member, pod=pod_name, status=status))
    return EtcdView(members=tuple(sorted(views, key=lambda v: v.pod or "")))


def _pod_of(member: Member, cluster: EtcdCluster) -> str | None:
    for url in member.peer_urls:
        pod = naming.pod_name_from_peer_url(url, cluster.name, cluster.namespace)
        if pod:
            return pod
    return None
