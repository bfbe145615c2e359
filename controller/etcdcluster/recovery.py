"""Quorum-loss recovery, a durable operation. Pure: observed state, the recorded operation
and `now` → one action.

Quorum is lost for good when at least a majority of the voting members lost their data (no
pod and no PVC — or, on emptyDir, no pod): no restart can bring it back. Then:

    Detected          recorded at once (status.operation, with when); the status says
                      QuorumLost and names the lost members. Waits out the grace period
                      (a node may only be rebooting); if quorum returns, the operation ends.
    ForceNewCluster   recorded with the survivor — the answering member with the highest
                      revision — before anything is deleted. Every other member's pod and
                      volume go; the survivor's pod is recreated on its volume with
                      --force-new-cluster: a one-member cluster with all its data.
    Restarting        once it serves alone, its pod is recreated without the flag (a
                      restart with it after regrowth would drop the new members again).
    Regrowing         growth re-adds members through learners, as for any short cluster;
                      the operation (and the Recovering phase) ends at size.

A crash or a leader change at any point continues from the record: the survivor chosen is
never chosen again differently. When the survivors' data goes too before one was chosen,
the newest backup of the cluster is restored (controller.etcdcluster.restore), if any.
emptyDir survivors cannot be restarted (their data goes with their pod): the operator says
so and leaves recovery to a restore from a backup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from api import Operation
from controller.etcdcluster import naming, restore
from controller.etcdcluster.actions import (
    Action,
    DeleteStrayPod,
    DeleteStrayVolume,
    FinishOperation,
    RecordOperation,
    RestartMember,
    StopMember,
    Wait,
    WaitReason,
)
from controller.etcdcluster.observe import EtcdView, Observed, majority

QUORUM_RECOVERY = "QuorumRecovery"
DETECTED, FORCE_NEW_CLUSTER, RESTARTING, REGROWING = (
    "Detected",
    "ForceNewCluster",
    "Restarting",
    "Regrowing",
)


@dataclass(frozen=True)
class RecoveryPolicy:
    grace: timedelta = timedelta(minutes=2)  # --quorum-loss-grace-period
    node_grace: timedelta = timedelta(minutes=2)  # --node-lost-grace-period


def lost_members(obs: Observed, view: EtcdView) -> list[str]:
    """Voting members whose data is gone: no live pod, and no PVC (or no volumes at all)."""
    live = {p.name for p in obs.live_pods}
    kept = set(obs.pvcs) if obs.on_volumes else set()
    return sorted(v.label for v in view.voting if v.pod not in live and v.pod not in kept)


def detect(obs: Observed, now: datetime) -> Action | None:
    """A RecordOperation when quorum is lost for good, else None."""
    view = obs.local
    if view is None or not view.voting:
        return None
    lost = lost_members(obs, view)
    if len(lost) < majority(len(view.voting)):
        return None  # a majority still has its data: restarts bring quorum back
    operation = Operation(
        type=QUORUM_RECOVERY,
        phase=DETECTED,
        started_at=now,
        inputs={"lost": ",".join(lost)},
        message=f"quorum lost: members {', '.join(lost)} lost their data",
    )
    return RecordOperation(operation, f"quorum lost: members {', '.join(lost)} lost their data")


def resume(obs: Observed, op: Operation, now: datetime, policy: RecoveryPolicy) -> Action | None:
    """The next step of a recorded QuorumRecovery; None while it regrows (the planner's
    ordinary growth does that)."""
    if op.phase == DETECTED:
        return _decide(obs, op, now, policy)
    survivor = op.inputs.get("survivor", "")
    if op.phase == FORCE_NEW_CLUSTER:
        return _force(obs, op, survivor)
    if op.phase == RESTARTING:
        return _restart(obs, op, survivor)
    if op.phase == REGROWING:
        etcd, size = obs.etcd, obs.cluster.spec.size
        healthy = [v for v in etcd.voting if v.healthy] if etcd is not None else []
        if etcd is not None and len(healthy) == size == len(etcd.members):
            revision = op.inputs.get("revision", "?")
            return FinishOperation(f"recovered from {survivor} at revision {revision}")
        return None
    return Wait(WaitReason.UNKNOWN_OPERATION, f"unknown {QUORUM_RECOVERY} phase {op.phase}")


def _decide(obs: Observed, op: Operation, now: datetime, policy: RecoveryPolicy) -> Action:
    if obs.etcd is not None and obs.etcd.leader:
        return FinishOperation("quorum came back before the grace period ended")
    lost = op.inputs.get("lost", "")
    started = op.started_at or now
    left = policy.grace - (now - started)
    if left > timedelta(0):
        return Wait(WaitReason.QUORUM_LOST, f"members {lost} lost; recovering in {left.seconds}s")
    if not obs.pods and not obs.pvcs:  # the survivors went too: nothing to recover from
        return restore.from_backup(obs, now) or FinishOperation("every member lost its data")
    if not obs.on_volumes:
        return Wait(
            WaitReason.QUORUM_LOST,
            f"members {lost} lost on emptyDir; the survivors' data cannot be restarted in "
            "place: restore the cluster from a backup (EtcdRestore)",
        )
    view = obs.local
    if view is None:
        return Wait(WaitReason.QUORUM_LOST, "no surviving member answers")
    live = {p.name for p in obs.live_pods}
    silent = [
        v.pod for v in view.voting if v.status is None and (v.pod in live or v.pod in obs.pvcs)
    ]
    if silent:
        # A member that holds data but does not answer may hold the newest writes.
        names = ", ".join(p or "?" for p in silent)
        return Wait(WaitReason.QUORUM_LOST, f"waiting for {names} (they hold data) to answer")
    answering = [v for v in view.voting if v.status is not None and v.pod in obs.pvcs]
    if not answering:
        return Wait(WaitReason.QUORUM_LOST, "no member with data answers")
    best = max(answering, key=lambda v: (v.status.revision if v.status else 0, v.pod or ""))
    assert best.pod is not None and best.status is not None
    decided = op.model_copy(
        update={
            "phase": FORCE_NEW_CLUSTER,
            "inputs": {**op.inputs, "survivor": best.pod, "revision": str(best.status.revision)},
            "message": f"recovering from {best.pod} at revision {best.status.revision}",
        }
    )
    event = f"recovering from {best.pod} (revision {best.status.revision}) with --force-new-cluster"
    return RecordOperation(decided, event)


def _force(obs: Observed, op: Operation, survivor: str) -> Action:
    for other in obs.live_pods:
        if other.name != survivor:
            return DeleteStrayPod(other.name)
    for pvc in obs.pvcs:
        if pvc != survivor:
            return DeleteStrayVolume(pvc)
    pod = obs.pod(survivor)
    if pod is None:
        return RestartMember(survivor, _alone(obs, survivor), force_new_cluster=True)
    if pod.terminating:
        return Wait(WaitReason.RECOVERING, f"pod {survivor} is terminating")
    if not pod.forced:
        return StopMember(survivor)
    etcd = obs.etcd
    if etcd is not None and etcd.leader and [v.pod for v in etcd.members] == [survivor]:
        restarting = op.model_copy(update={"phase": RESTARTING})
        return RecordOperation(restarting, f"{survivor} serves alone; restarting it normally")
    return Wait(WaitReason.RECOVERING, f"{survivor} is starting as a one-member cluster")


def _restart(obs: Observed, op: Operation, survivor: str) -> Action:
    pod = obs.pod(survivor)
    if pod is None:
        return RestartMember(survivor, _alone(obs, survivor))
    if pod.terminating:
        return Wait(WaitReason.RECOVERING, f"pod {survivor} is terminating")
    if pod.forced:
        return StopMember(survivor)
    if obs.etcd is not None and obs.etcd.leader:
        regrowing = op.model_copy(update={"phase": REGROWING})
        return RecordOperation(regrowing, f"{survivor} serves; growing back to size")
    return Wait(WaitReason.RECOVERING, f"{survivor} is restarting")


def _alone(obs: Observed, survivor: str) -> tuple[tuple[str, str], ...]:
    return ((survivor, naming.member_peer_url(obs.cluster, survivor)),)
