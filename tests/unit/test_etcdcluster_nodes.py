"""A member on a lost Node: waited out for the grace period (a reboot brings it back where it
was), then its pod is deleted at once — no kubelet will confirm it stopped — and the member
comes back elsewhere on its volume, or, when its volume is bound to that Node, is replaced."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from controller.etcdcluster.actions import ForceDeletePod, RemoveMember, RestartMember, Wait
from controller.etcdcluster.observe import NodeView, Observed, node_view
from controller.etcdcluster.planner import lost_nodes, plan
from controller.etcdcluster.recovery import RecoveryPolicy
from tests.unit.test_etcdcluster_planner import IDS, A, B, C, member, observed, peers, pod

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POLICY = RecoveryPolicy(node_grace=timedelta(seconds=60))


def on_nodes(obs: Observed, down_since: datetime | None, **claims: str) -> Observed:
    """A, B, C on node-a, node-b, node-c; node-c not Ready since `down_since` (None: Ready)."""
    pods = tuple(replace(p, node=f"node-{p.name[-1]}") for p in obs.pods)
    nodes = {f"node-{n[-1]}": NodeView(True) for n in (A, B, C)}
    if down_since is not None:
        nodes[f"node-{C[-1]}"] = NodeView(False, down_since)
    return replace(obs, pods=pods, nodes=nodes, claim_nodes=claims)


RUNNING = observed(pods=(pod(A), pod(B), pod(C)), members=(member(A), member(B), member(C)))
assert RUNNING.etcd is not None
C_DOWN = replace(
    RUNNING,
    etcd=replace(RUNNING.etcd, members=(member(A), member(B), member(C, up=False))),
)
NODE_C = f"node-{C[-1]}"


def test_a_node_not_ready_within_the_grace_period_is_waited_out() -> None:
    obs = on_nodes(C_DOWN, NOW - timedelta(seconds=30))
    assert lost_nodes(obs, NOW, POLICY) == frozenset()
    assert isinstance(plan(obs, NOW, POLICY), Wait)


def test_past_the_grace_period_its_member_pod_is_deleted_at_once() -> None:
    obs = on_nodes(C_DOWN, NOW - timedelta(seconds=60))
    assert lost_nodes(obs, NOW, POLICY) == {NODE_C}
    assert plan(obs, NOW, POLICY) == ForceDeletePod(C, NODE_C)
    evicted = replace(obs, pods=(*obs.pods[:2], replace(obs.pods[2], terminating=True)))
    assert plan(evicted, NOW, POLICY) == ForceDeletePod(C, NODE_C)  # stuck Terminating


def test_then_the_member_comes_back_elsewhere_on_its_volume() -> None:
    obs = on_nodes(C_DOWN, NOW - timedelta(minutes=5))
    gone = replace(
        obs, pods=obs.pods[:2], nodes={k: v for k, v in obs.nodes.items() if k != NODE_C}
    )
    assert plan(gone, NOW, POLICY) == RestartMember(C, peers(A, B, C))


def test_a_volume_bound_to_the_lost_node_cannot_follow_the_member_is_replaced() -> None:
    obs = on_nodes(C_DOWN, NOW - timedelta(minutes=5), **{C: NODE_C})
    gone = replace(obs, pods=obs.pods[:2])
    assert plan(gone, NOW, POLICY) == RemoveMember(IDS[C], C)
    elsewhere = on_nodes(C_DOWN, NOW - timedelta(minutes=5), **{C: "node-z"})
    assert plan(replace(elsewhere, pods=elsewhere.pods[:2]), NOW, POLICY) == RestartMember(
        C, peers(A, B, C)
    )


def test_node_readiness_from_its_ready_condition() -> None:
    assert node_view(None) == NodeView(False)
    ready = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert node_view(ready) == NodeView(True)
    lost = {
        "status": {
            "conditions": [
                {"type": "Ready", "status": "Unknown", "lastTransitionTime": "2026-12-01T11:58:00Z"}
            ]
        }
    }
    assert node_view(lost) == NodeView(False, datetime(2026, 12, 1, 11, 58, tzinfo=UTC))
