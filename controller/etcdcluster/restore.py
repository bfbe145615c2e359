"""Restoring a cluster from a backup, a durable operation. Pure: observed state, the recorded
operation and `now` → one action.

An EtcdRestore named like the cluster asks for it (its own reconciler first proves the
backup object whole: its SHA-256 trailer), or a cluster that lost every member with its data
falls back to the newest backup an EtcdBackup of it took (written only whole and verified):

    Replacing   recorded with the backup and the seed's name before anything is deleted.
                Every member pod goes, then every member volume: the cluster is replaced,
                as the user asked, so nothing of the old members is kept.
    Seeding     the seed pod (a name derived from the restore's uid) on a fresh volume:
                its init containers fetch the backup, verify it and `etcdutl snapshot
                restore` it; then it serves alone. A seed pod that disappears before it
                served takes its volume with it and starts again from the backup (etcdutl
                restores only into a new data dir).
    Restarting  once it serves, the seed pod is recreated as an ordinary member on its
                volume (without the restoring init containers, which would refuse the data
                dir that now exists). When it serves again the operation ends, and
                status.restoredFrom names the backup and the restore; the ordinary growth
                brings the cluster back to size through learners.

A crash or a leader change at any point continues from the record.
"""

from __future__ import annotations

from datetime import datetime

from api import Operation, RestoredFrom
from controller.etcdcluster import naming
from controller.etcdcluster.actions import (
    Action,
    CreateVolume,
    DeleteStrayPod,
    DeleteStrayVolume,
    FinishOperation,
    RecordOperation,
    RestartMember,
    SeedFromBackup,
    StopMember,
    Wait,
    WaitReason,
)
from controller.etcdcluster.observe import Observed
from controller.etcdcluster.resources import BackupSource

RESTORE = "Restore"
REPLACING, SEEDING, RESTARTING = "Replacing", "Seeding", "Restarting"


def request(obs: Observed, now: datetime) -> Action | None:
    """The decision to restore, when a verified EtcdRestore asks for it; else None."""
    asked = obs.restore
    if asked is None:
        return None
    seed = naming.restore_seed_name(obs.cluster.name, asked.uid)
    by = {"restore": asked.name, "restoreUID": asked.uid}
    message = f"replacing every member with {seed}, restored from {asked.source.url}"
    return _decide(asked.source, seed, by, now, message, f"restore {asked.name}: {message}")


def from_backup(obs: Observed, now: datetime) -> Action | None:
    """The decision to restore the newest backup of a cluster that lost every member with
    its data (no pod, no volume), when there is one; else None."""
    chosen = obs.backup
    if chosen is None:
        return None
    cluster = obs.cluster
    seed = naming.restore_seed_name(cluster.name, f"{cluster.metadata.uid}/{now.isoformat()}")
    by = {"backup": chosen.backup, "revision": str(chosen.revision)}
    message = (
        f"every member was lost with its data; restoring the newest backup "
        f"{chosen.source.url} (revision {chosen.revision}, EtcdBackup {chosen.backup}) into {seed}"
    )
    return _decide(chosen.source, seed, by, now, message, message)


def _decide(
    source: BackupSource,
    seed: str,
    by: dict[str, str],
    now: datetime,
    message: str,
    event: str,
) -> RecordOperation:
    inputs = {
        **by,
        "seed": seed,
        "path": source.path,
        "endpoint": source.endpoint or "",
        "forcePathStyle": str(source.force_path_style).lower(),
        "awsSecret": source.aws_secret or "",
    }
    operation = Operation(
        type=RESTORE, phase=REPLACING, started_at=now, inputs=inputs, message=message
    )
    return RecordOperation(operation, event)


def resume(obs: Observed, op: Operation, now: datetime) -> Action:
    """The next step of a recorded Restore."""
    seed = op.inputs.get("seed", "")
    if op.phase == REPLACING:
        return _replace(obs, op)
    if op.phase == SEEDING:
        return _seed(obs, op, seed)
    if op.phase == RESTARTING:
        return _restart(obs, op, seed, now)
    return Wait(WaitReason.UNKNOWN_OPERATION, f"unknown {RESTORE} phase {op.phase}")


def source_of(op: Operation) -> BackupSource:
    inputs = op.inputs
    return BackupSource(
        path=inputs.get("path", ""),
        endpoint=inputs.get("endpoint") or None,
        force_path_style=inputs.get("forcePathStyle") == "true",
        aws_secret=inputs.get("awsSecret") or None,
    )


def _replace(obs: Observed, op: Operation) -> Action:
    if obs.live_pods:
        return DeleteStrayPod(obs.live_pods[0].name)
    terminating = [p.name for p in obs.pods]
    if terminating:  # their processes may still write to the volumes
        return Wait(WaitReason.RESTORING, f"pods terminating: {', '.join(terminating)}")
    if obs.pvcs:
        return DeleteStrayVolume(obs.pvcs[0])
    seeding = op.model_copy(update={"phase": SEEDING})
    return RecordOperation(seeding, f"every member removed; seeding from {source_of(op).url}")


def _seed(obs: Observed, op: Operation, seed: str) -> Action:
    strays = [p.name for p in obs.live_pods if p.name != seed]
    if strays:
        return DeleteStrayPod(strays[0])
    pod = obs.pod(seed)
    if pod is None:
        if seed in obs.pvcs:
            return DeleteStrayVolume(seed)  # a half-restored data dir: etcdutl wants a new one
        return SeedFromBackup(seed, source_of(op))
    if pod.terminating:
        return Wait(WaitReason.RESTORING, f"pod {seed} is terminating")
    if pod.phase == "Failed":
        return DeleteStrayPod(seed)
    if pod.claim and pod.claim not in obs.pvcs:
        return CreateVolume(pod.claim)
    if pod.stuck:
        return Wait(WaitReason.MEMBER_CANNOT_START, f"{seed}: {pod.stuck}")
    if _serves_alone(obs, seed):
        restarting = op.model_copy(update={"phase": RESTARTING})
        return RecordOperation(restarting, f"{seed} serves the restored data; restarting it")
    return Wait(WaitReason.RESTORING, f"{seed} is restoring {source_of(op).url}")


def _restart(obs: Observed, op: Operation, seed: str, now: datetime) -> Action:
    pod = obs.pod(seed)
    if pod is None:
        return RestartMember(seed, ((seed, naming.member_peer_url(obs.cluster, seed)),))
    if pod.terminating:
        return Wait(WaitReason.RESTORING, f"pod {seed} is terminating")
    if pod.restore_seed:
        return StopMember(seed)
    if _serves_alone(obs, seed):
        source = source_of(op).url
        restored = RestoredFrom(
            source=source,
            restore_name=op.inputs.get("restore") or None,
            restore_uid=op.inputs.get("restoreUID") or None,
            completed_at=now,
        )
        return FinishOperation(f"restored from {source}; growing back to size", restored)
    return Wait(WaitReason.RESTORING, f"{seed} is restarting on the restored data")


def _serves_alone(obs: Observed, seed: str) -> bool:
    etcd = obs.etcd
    return (
        etcd is not None
        and bool(etcd.leader)
        and [v.pod for v in etcd.members] == [seed]
        and etcd.members[0].healthy
    )
