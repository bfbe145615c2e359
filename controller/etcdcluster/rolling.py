"""Rolling members to the current spec — a new etcd version or a changed pod policy. Pure.

A member pod is outdated when it was made from another spec: its etcd.version annotation
differs from spec.version, or its template hash (controller.etcdcluster.resources) from
the spec's. Pods made before template hashes existed count as outdated only for version.
One member at a time, on a healthy cluster at size (so a failed member stops the rollout:
the planner's health rule comes first), followers first and the leader last — leadership is
moved to an up-to-date member before the leader is rolled:

- on PVCs, the member's pod is deleted and recreated on its volume from the current spec:
  the same member (name, ID, data), as a heal is;
- on emptyDir, a member cannot keep its data through a restart: a new member is added
  first (a surge of one, through a learner, from the current spec), then an outdated one is
  removed, so the cluster never runs with fewer members than its size.

Version steps follow etcd's rule: one minor at a time upwards; downgrades are refused.
"""

from __future__ import annotations

from controller.etcdcluster.actions import Action, AddLearner, MoveLeader, Peers, StopMember
from controller.etcdcluster.observe import EtcdView, MemberView, Observed, PodView


def parse_version(text: str) -> tuple[int, int, int] | None:
    parts = text.lstrip("v").split("-", 1)[0].split(".")
    try:
        major, minor, patch = (int(p) for p in parts[:3])
    except ValueError:
        return None
    return major, minor, patch


def refused_step(current: str | None, target: str) -> str | None:
    """Why going from `current` to `target` is not allowed, or None when it is."""
    have, want = parse_version(current or ""), parse_version(target)
    if have is None or want is None or have == want:
        return None
    if want < have:
        return f"downgrade from {current} to {target} refused (etcd downgrades need its API)"
    if want[0] != have[0] or want[1] > have[1] + 1:
        return f"upgrade from {current} to {target} skips a minor version; go one at a time"
    return None


def current_version(obs: Observed) -> str | None:
    """The lowest version the members run (what an upgrade starts from)."""
    etcd = obs.etcd
    versions = [v.status.version for v in etcd.members if v.status] if etcd else []
    parsed = [(parse_version(v), v) for v in versions]
    known = sorted((p, v) for p, v in parsed if p is not None)
    return known[0][1] if known else obs.cluster.status.current_version


def outdated(obs: Observed, pod: PodView | None) -> bool:
    if pod is None:
        return False
    if pod.version != obs.cluster.spec.etcd_version:
        return True
    return pod.template is not None and pod.template != obs.template


def outdated_members(obs: Observed, etcd: EtcdView) -> list[MemberView]:
    return sorted(
        (v for v in etcd.voting if outdated(obs, obs.pod(v.pod))), key=lambda v: v.pod or ""
    )


def next_roll(
    obs: Observed, etcd: EtcdView, peers: Peers, stale: list[MemberView]
) -> Action | None:
    """The next step of a rollout on a healthy cluster at size, or None when none is due;
    `stale` is outdated_members(obs, etcd), which the planner has already computed."""
    if not stale:
        return None
    followers = [v for v in stale if v.member.id != etcd.leader]
    if not followers:
        fresh = [v for v in etcd.voting if v not in stale and v.healthy]
        if fresh:
            return MoveLeader(fresh[0].member.id, fresh[0].pod)
    victim = followers[0] if followers else stale[0]
    if not obs.on_volumes:
        return AddLearner(peers)  # the surge; the shrink then removes an outdated member
    assert victim.pod is not None
    return StopMember(victim.pod, f"rolling to the current spec ({why(obs, victim)})")


def why(obs: Observed, view: MemberView) -> str:
    pod = obs.pod(view.pod)
    want = obs.cluster.spec.etcd_version
    if pod is not None and pod.version != want:
        return f"version {pod.version} → {want}"
    return "pod policy or trusted CAs changed"
