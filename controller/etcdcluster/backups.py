"""What the EtcdCluster reconciler reads of the other two kinds, from the cache: a verified
EtcdRestore of the cluster waiting to be carried out, and the newest backup an EtcdBackup of
the cluster took (what a cluster that lost every member restores). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import ValidationError

from api import (
    ConditionStatus,
    EtcdBackup,
    EtcdCluster,
    EtcdRestore,
    RestoreConditionType,
    find_condition,
)
from controller.etcdcluster import naming
from controller.etcdcluster.resources import BackupSource, Obj


@dataclass(frozen=True)
class RestoreRequest:
    """An EtcdRestore of this cluster whose backup was verified and that has not restored it
    yet (the cluster's status.restoredFrom names another uid)."""

    name: str
    uid: str
    source: BackupSource


@dataclass(frozen=True)
class BackupChoice:
    """The newest backup an EtcdBackup of this cluster took (its status names the object,
    written only once whole and verified): what a cluster that lost every member restores."""

    backup: str  # the EtcdBackup's name
    revision: int
    source: BackupSource


def newest_backup(cluster: EtcdCluster, backups: list[Obj]) -> BackupChoice | None:
    """The backup with the highest revision among the EtcdBackups whose endpoints are this
    cluster's (its client Service or its members)."""
    chosen: list[tuple[int, str, BackupChoice]] = []
    for obj in backups:
        try:
            backup = EtcdBackup.model_validate(obj)
        except ValidationError:
            continue
        status, s3 = backup.status, backup.spec.s3
        if s3 is None or not status.last_backup_path or status.etcd_revision is None:
            continue
        if not any(_names_cluster(url, cluster) for url in backup.spec.etcd_endpoints):
            continue
        source = BackupSource(
            path=status.last_backup_path,
            endpoint=s3.endpoint or None,
            force_path_style=s3.force_path_style,
            aws_secret=s3.aws_secret or None,
        )
        taken = status.last_success_date.isoformat() if status.last_success_date else ""
        choice = BackupChoice(backup.name, status.etcd_revision, source)
        chosen.append((status.etcd_revision, taken, choice))
    return max(chosen, key=lambda c: c[:2])[2] if chosen else None


def _names_cluster(url: str, cluster: EtcdCluster) -> bool:
    """`https://<cluster>-client.<ns>.svc:2379`, `<pod>.<cluster>.<ns>.svc`, or the short
    forms of either (in the cluster's namespace)."""
    host = urlsplit(url if "//" in url else f"//{url}").hostname or ""
    labels = host.split(".")
    name, ns = cluster.name, cluster.namespace
    if labels[0] == naming.client_service_name(name):
        return len(labels) == 1 or labels[1] == ns
    return (
        len(labels) >= 2
        and naming.is_member_name(name, labels[0])
        and labels[1] == name
        and (len(labels) == 2 or labels[2] == ns)
    )


def pending_restore(cluster: EtcdCluster, obj: Obj | None) -> RestoreRequest | None:
    """The EtcdRestore named like the cluster, when its reconciler verified the backup for
    its current spec and this cluster was not restored by it yet."""
    if obj is None or obj["metadata"].get("deletionTimestamp"):
        return None
    try:
        restore = EtcdRestore.model_validate(obj)
    except ValidationError:
        return None  # its own reconciler reports it
    uid, s3 = restore.metadata.uid or "", restore.spec.s3
    verified = find_condition(restore.status.conditions, RestoreConditionType.VERIFIED.value)
    done = cluster.status.restored_from
    if (
        s3 is None
        or verified is None
        or verified.status != ConditionStatus.TRUE
        or restore.status.observed_generation != restore.metadata.generation
        or restore.status.succeeded
        or (done is not None and done.restore_uid == uid)
    ):
        return None
    source = BackupSource(
        path=s3.path,
        endpoint=s3.endpoint or None,
        force_path_style=s3.force_path_style,
        aws_secret=s3.aws_secret or None,
    )
    return RestoreRequest(name=restore.name, uid=uid, source=source)
