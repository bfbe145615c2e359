"""The rules the operator promises, judged at the moment it asks for a change.

A request is judged against the world as it is when the request arrives, before the
simulated etcd or API server answers: asking is the operator's decision, even where etcd's
own strict reconfiguration check would refuse. Each broken rule is one line in `violations`.
"""

from __future__ import annotations

from tests.sim.etcd import EtcdState, SimMember, quorum
from tests.sim.kube import DataDir, SimKube, SimPod


class Safety:
    def __init__(self, etcd: EtcdState):
        self.etcd = etcd
        self.kube: SimKube | None = None  # set once the API it watches exists
        self.violations: list[str] = []
        self.bootstraps = 0  # seed pods the API accepted

    def _broken(self, rule: str) -> None:
        self.violations.append(rule)

    def _one_change_at_a_time(self, request: str, member: SimMember | None = None) -> None:
        pending = [m.pod for m in self.etcd.learners if m is not member]
        if pending:
            self._broken(f"{request} while learner {pending[0]} is pending")

    def before_member_add(self, is_learner: bool) -> None:
        if not is_learner:
            self._broken("MemberAdd of a voting member (learners first)")
        self._one_change_at_a_time("MemberAdd")
        if not self.etcd.has_quorum():
            self._broken("MemberAdd without quorum")

    def before_member_promote(self, member: SimMember) -> None:
        voters = len(self.etcd.voters) + 1
        healthy = len(self.etcd.up_voters) + member.up
        if healthy < quorum(voters):
            self._broken(f"MemberPromote {member.pod}: {healthy} healthy of {voters} voters")

    def before_member_remove(self, member: SimMember) -> None:
        if member.id == self.etcd.leader:
            self._broken(f"MemberRemove of the leader {member.pod}")
        if member.up:  # a dead member's removal (healing) costs no vote: it may overlap
            self._one_change_at_a_time("MemberRemove", member)
        remaining = [m for m in self.etcd.voters if m is not member]
        healthy = sum(m.up for m in remaining)
        if healthy < quorum(len(remaining)):
            self._broken(
                f"MemberRemove {member.pod} leaves {healthy} healthy of {len(remaining)} voters"
            )
        # Data others lack: committed writes only the victim holds. (A member ahead of the
        # rest with writes never committed is not: raft discards those anyway.)
        others = max((m.revision for m in self.etcd.members.values() if m is not member), default=0)
        if others < self.etcd.committed <= member.revision:
            self._broken(
                f"MemberRemove {member.pod}: the only member with the committed revision "
                f"{self.etcd.committed} (others hold {others})"
            )

    def before_pod_create(self, pod: SimPod) -> None:
        if pod.initial_state != "new":
            return
        self.bootstraps += 1
        if self.bootstraps > 1:
            self._broken(f"a second seed pod {pod.name} (bootstrapped twice)")
        volumes = sorted(self.kube.pvcs) if self.kube is not None else []
        if volumes:
            self._broken(f"seed pod {pod.name} created over existing volumes {volumes}")
        if self.etcd.members:
            self._broken(f"seed pod {pod.name} created while the cluster has members")

    def before_boot(self, pod: SimPod, data: DataDir) -> None:
        if data.member_id is not None:
            return
        if pod.initial_state == "new" and self.etcd.members:
            self._broken(f"{pod.name} bootstrapped a second cluster beside the existing one")
        joining = self.etcd.by_peer_url(pod.peer_url)
        if pod.initial_state == "existing" and joining is not None and joining.name:
            # Real etcd lets it join: it would vote again having forgotten its log.
            self._broken(f"{pod.name} restarts a started member on an empty data dir")

    def check_world(self) -> None:
        """Invariants of the state itself, after every event and pass."""
        learners = self.etcd.learners
        if len(learners) > 1:
            self._broken(f"{len(learners)} learners at once: {[m.pod for m in learners]}")
        leader = self.etcd.leader_member()
        if leader is not None and leader.revision < self.etcd.committed:
            self._broken(
                f"committed revision {self.etcd.committed} lost: the leader holds {leader.revision}"
            )
