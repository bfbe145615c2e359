"""The simulated etcd: membership, the leader, each member's data, and the answers etcd gives.

Raft is reduced to what the operator's decisions depend on. Each member's data is a revision
in the data dir its process booted on (a PVC, or the pod's emptyDir); a write reaches the
leader and the members in sync with it, and counts as committed once a majority of voters
hold it. A leader is elected among running voters when they form a quorum, the most
up-to-date one winning (so the leader holds everything committed); without quorum there is
no leader, and a member that lost the cluster reports none.

The membership calls refuse as etcd does with --strict-reconfig-check (its default):
MemberAdd with a learner already present (TooManyLearners), without quorum or before every
voter has been connected for a health interval (UnhealthyCluster); MemberPromote of a
learner behind the leader (LearnerNotReady); MemberRemove that would leave the active voters
short of a quorum (UnhealthyCluster). Before applying any of them, `Witness` sees the request,
so the world can judge the operator for asking, even when etcd would refuse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from controller.clients.etcd import (
    Endpoint,
    EndpointStatus,
    EtcdClientError,
    LearnerNotReady,
    Member,
    MemberNotFound,
    TLSMaterial,
    TooManyLearners,
    Unavailable,
    UnhealthyCluster,
)
from controller.etcdcluster import naming
from tests.sim.kube import DataDir, SimKube, SimPod

FIRST_MEMBER_ID = 0x8E9E05C52164694D  # etcd's ids are 64-bit hashes; these count up from one


@dataclass
class SimMember:
    id: int
    peer_url: str
    learner: bool
    name: str = ""  # published when its process first starts
    data: DataDir | None = None  # the data dir its process booted on
    process: str | None = None  # the pod whose etcd process serves it now
    proven: bool = False  # connected for a health interval (etcd's check before MemberAdd)

    @property
    def up(self) -> bool:
        return self.process is not None

    @property
    def revision(self) -> int:
        return self.data.revision if self.data is not None else 0

    @property
    def pod(self) -> str | None:
        return pod_of(self.peer_url)


def pod_of(peer_url: str) -> str | None:
    host = peer_url.partition("://")[2]
    pod = host.partition(".")[0]
    return pod or None


def quorum(voters: int) -> int:
    return voters // 2 + 1


class EtcdState:
    """The one etcd cluster of the world (a second bootstrap is a violation, not modelled)."""

    def __init__(self) -> None:
        self.members: dict[int, SimMember] = {}
        self.leader = 0
        self.term = 0
        self.committed = 0  # the highest revision a majority of voters ever held
        self._next_id = FIRST_MEMBER_ID

    @property
    def voters(self) -> list[SimMember]:
        return [m for m in self.members.values() if not m.learner]

    @property
    def learners(self) -> list[SimMember]:
        return [m for m in self.members.values() if m.learner]

    @property
    def up_voters(self) -> list[SimMember]:
        return [m for m in self.voters if m.up]

    def has_quorum(self) -> bool:
        voters = up = 0  # one loop: observe asks this for every pod and member
        for member in self.members.values():
            if not member.learner:
                voters += 1
                up += member.process is not None
        return voters > 0 and up >= quorum(voters)

    def leader_member(self) -> SimMember | None:
        return self.members.get(self.leader)

    def by_peer_url(self, url: str) -> SimMember | None:
        return next((m for m in self.members.values() if m.peer_url == url), None)

    def served_by(self, pod: str) -> SimMember | None:
        return next((m for m in self.members.values() if m.process == pod), None)

    def add(self, peer_url: str, learner: bool) -> SimMember:
        member = SimMember(self._next_id, peer_url, learner)
        self._next_id += 1
        self.members[member.id] = member
        return member

    def settle(self) -> None:
        """Raft after any change: a leader iff a quorum runs, then the commit point."""
        if not self.has_quorum():
            self.leader = 0
        else:
            current = self.leader_member()
            if current is None or not current.up or current.learner:
                best = max(self.up_voters, key=lambda m: (m.revision, -m.id))
                self.leader, self.term = best.id, self.term + 1
        held = sorted((m.revision for m in self.voters), reverse=True)
        if held and self.leader:
            self.committed = max(self.committed, held[quorum(len(held)) - 1])

    # The events of the world.

    def boot(self, pod: SimPod, data: DataDir) -> str | None:
        """The pod's etcd process starts on `data`; why it exits at once, or None if it runs.

        A bootstrap (`new` on an empty data dir) is only for a world without a cluster: the
        world checks that before calling."""
        if data.member_id is not None:
            member = self.members.get(data.member_id)
            if member is None:
                return "the member has been permanently removed from the cluster"
        elif pod.initial_state == "new":
            if self.members:
                return "bootstrapped a second cluster (refused by the simulation)"
            member = self.add(pod.peer_url, learner=False)
            data.member_id, data.revision = member.id, 1
            member.name = pod.name
        else:
            found = self.by_peer_url(pod.peer_url)
            if found is None:
                return "member not in the cluster's list (--initial-cluster-state=existing)"
            if found.name:
                return "member already bootstrapped, and this data dir is empty"
            if not any(m.up for m in self.voters):
                return "could not retrieve the cluster's members from any peer"
            member, data.member_id, data.revision = found, found.id, 0
            member.name = pod.name
        member.data, member.process, member.proven = data, pod.name, False
        self.settle()
        return None

    def stop(self, pod: str) -> None:
        member = self.served_by(pod)
        if member is not None:
            member.process, member.proven = None, False
            self.settle()

    def write(self, lagging: int | None) -> None:
        """A client write: the leader and the up members in sync with it, except the
        `lagging`-th follower (if any), append one revision."""
        leader = self.leader_member()
        if leader is None or leader.data is None:
            return
        head = leader.revision
        followers = sorted(
            (m for m in self.members.values() if m.up and m.id != leader.id and m.revision == head),
            key=lambda m: m.id,
        )
        missed = followers[lagging % len(followers)] if followers and lagging is not None else None
        for member in (leader, *followers):
            if member is not missed and member.data is not None:
                member.data.revision = head + 1
        self.settle()

    def replicate(self, learners: bool) -> None:
        """Time passes: up voters (and learners, when `learners`) reach the leader's log; a
        member ahead of it with entries never committed has them overwritten, as in raft."""
        leader = self.leader_member()
        if leader is None:
            return
        for member in self.members.values():
            if member.up and member.data is not None and (learners or not member.learner):
                member.data.revision = leader.revision
        self.settle()

    def transfer_leadership(self, index: int) -> None:
        """MoveLeader to the `index`-th up voter in sync with the leader (etcd requires it)."""
        leader = self.leader_member()
        if leader is None:
            return
        ready = sorted(m.id for m in self.up_voters if m.revision == leader.revision)
        self.leader, self.term = ready[index % len(ready)], self.term + 1


class Witness(Protocol):
    """Sees each membership request before the simulated etcd answers it."""

    def before_member_add(self, is_learner: bool) -> None: ...

    def before_member_promote(self, member: SimMember) -> None: ...

    def before_member_remove(self, member: SimMember) -> None: ...


class SimEtcd:
    """The executor's `Etcd`, and the pool observe asks (member_list, statuses)."""

    def __init__(
        self,
        state: EtcdState,
        kube: SimKube,
        witness: Witness,
        journal: list[tuple[str, str]],
    ):
        self.state = state
        self.kube = kube
        self.witness = witness
        self.journal = journal

    async def client(self, endpoint: Endpoint, tls: TLSMaterial | None) -> SimEtcdClient:
        return SimEtcdClient(self, endpoint.address.rsplit(":", 1)[0])

    async def member_list(
        self, endpoints: Sequence[Endpoint], tls: TLSMaterial | None, linearizable: bool = True
    ) -> tuple[Endpoint, list[Member]]:
        errors = []
        for endpoint in endpoints:
            try:
                client = await self.client(endpoint, tls)
                return endpoint, await client.member_list(linearizable)
            except EtcdClientError as exc:
                errors.append(str(exc))
        raise Unavailable("; ".join(errors) or "no member endpoint to ask")

    async def statuses(
        self, endpoints: Sequence[Endpoint], tls: TLSMaterial | None
    ) -> dict[Endpoint, EndpointStatus | EtcdClientError]:
        answers: dict[Endpoint, EndpointStatus | EtcdClientError] = {}
        for endpoint in endpoints:
            try:
                answers[endpoint] = await (await self.client(endpoint, tls)).status()
            except EtcdClientError as exc:
                answers[endpoint] = exc
        return answers


class SimEtcdClient:
    """One member's client endpoint: answers only while that pod's process runs."""

    def __init__(self, etcd: SimEtcd, ip: str):
        self.etcd = etcd
        self.state = etcd.state
        self.ip = ip

    def _serving_pod(self) -> tuple[SimPod, SimMember]:
        pod = next((p for p in self.etcd.kube.pods.values() if p.ip == self.ip), None)
        member = self.state.served_by(pod.name) if pod is not None and pod.running else None
        if pod is None or member is None:
            raise Unavailable(f"{self.ip}:{naming.CLIENT_PORT}: connection refused")
        return pod, member

    def _serving(self) -> SimMember:
        return self._serving_pod()[1]

    def _require_quorum(self) -> None:
        self._serving()
        if not self.state.has_quorum():
            raise UnhealthyCluster("etcdserver: unhealthy cluster")

    def _record(self, change: str, member: SimMember) -> None:
        self.etcd.journal.append((change, member.pod or f"{member.id:x}"))

    async def member_list(self, linearizable: bool = True) -> list[Member]:
        """Linearizable: through the leader, so only from a voter of a cluster with quorum.
        Otherwise the member's own view, which here is always the current membership."""
        serving = self._serving()
        if linearizable and serving.learner:
            raise EtcdClientError("etcdserver: rpc not supported for learner")
        if linearizable and not self.state.has_quorum():
            raise Unavailable(f"{self.ip}: context deadline exceeded")
        return [self._wire(m) for m in sorted(self.state.members.values(), key=lambda m: m.id)]

    def _wire(self, m: SimMember) -> Member:
        client_urls = (m.peer_url.replace(f":{naming.PEER_PORT}", f":{naming.CLIENT_PORT}"),)
        return Member(m.id, m.name, (m.peer_url,), client_urls if m.name else (), m.learner)

    async def status(self) -> EndpointStatus:
        pod, member = self._serving_pod()
        leader = self.state.leader if self.state.has_quorum() else 0
        revision, term = member.revision, self.state.term
        version = pod.obj["metadata"]["annotations"][naming.VERSION_ANNOTATION]  # its image's
        return EndpointStatus(
            member.id, leader, revision, term, revision, version, 1, member.learner, ()
        )

    async def member_add(self, peer_urls: Sequence[str], is_learner: bool) -> Member:
        self._serving()
        self.etcd.witness.before_member_add(is_learner)
        if any(self.state.by_peer_url(url) for url in peer_urls):
            raise EtcdClientError("etcdserver: Peer URLs already exists")
        self._require_quorum()
        if is_learner and self.state.learners:
            raise TooManyLearners("etcdserver: too many learner members in cluster")
        if not all(m.up and m.proven for m in self.state.voters):
            raise UnhealthyCluster("etcdserver: unhealthy cluster")  # not connected long enough
        member = self.state.add(peer_urls[0], is_learner)
        self._record("member-add", member)
        self.state.settle()
        return self._wire(member)

    async def member_promote(self, member_id: int) -> None:
        self._require_quorum()
        member = self.state.members.get(member_id)
        if member is None:
            raise MemberNotFound("etcdserver: member not found")
        if not member.learner:
            raise EtcdClientError("etcdserver: can only promote a learner member")
        leader = self.state.leader_member()
        if not member.up or leader is None or member.revision < leader.revision:
            raise LearnerNotReady(
                "etcdserver: can only promote a learner member which is in sync with leader"
            )
        self.etcd.witness.before_member_promote(member)
        member.learner = False
        self._record("member-promote", member)
        self.state.settle()

    async def move_leader(self, target_id: int) -> None:
        """MoveLeader: only the leader hands over, and only to a voter in sync with it."""
        serving = self._serving()
        if serving.id != self.state.leader:
            raise EtcdClientError("etcdserver: not leader")
        target = self.state.members.get(target_id)
        if target is None or target.learner or not target.up:
            raise EtcdClientError("etcdserver: bad leader transferee")
        if target.revision < serving.revision:
            raise EtcdClientError("etcdserver: leader transfer timeout")
        self.state.leader, self.state.term = target_id, self.state.term + 1
        self._record("move-leader", target)

    async def member_remove(self, member_id: int) -> None:
        self._serving()
        member = self.state.members.get(member_id)
        if member is None:
            raise MemberNotFound("etcdserver: member not found")
        self.etcd.witness.before_member_remove(member)
        self._require_quorum()
        remaining = [m for m in self.state.voters if m.id != member_id]
        if not member.learner and sum(m.up for m in remaining) < quorum(len(remaining)):
            raise UnhealthyCluster(
                "etcdserver: re-configuration failed due to not enough started members"
            )
        del self.state.members[member_id]
        self._record("member-remove", member)
        if member.process is not None:  # a removed member's process exits
            self.etcd.kube.pods[member.process].running = False
            member.process = None
        self.state.settle()
