"""Invalid objects are rejected by the models with errors that name the offending field; the
cross-field rules the CRD checks with CEL are checked in Python with the same messages."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from api import EtcdBackup, EtcdCluster, EtcdRestore, KubeObject
from tests.seed import BACKUP, CLUSTER, DELETE, RESTORE, Doc, load_seed, set_field


def cluster(change: Callable[[Doc], None]) -> tuple[type[KubeObject], Doc]:
    doc = load_seed(CLUSTER)
    change(doc)
    return EtcdCluster, doc


def backup(change: Callable[[Doc], None]) -> tuple[type[KubeObject], Doc]:
    doc = load_seed(BACKUP)
    change(doc)
    return EtcdBackup, doc


def restore(change: Callable[[Doc], None]) -> tuple[type[KubeObject], Doc]:
    doc = load_seed(RESTORE)
    change(doc)
    return EtcdRestore, doc


def set_path(path: str, value: Any) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        set_field(doc, path, value)

    return change


# (id, (kind, document), text the error must contain)
INVALID = [
    ("size-0", cluster(set_path("spec.size", 0)), "spec.size"),
    ("size-8", cluster(set_path("spec.size", 8)), "spec.size"),
    ("size-string", cluster(set_path("spec.size", "three")), "spec.size"),
    ("size-missing", cluster(set_path("spec.size", DELETE)), "spec.size"),
    ("name-60", cluster(set_path("metadata.name", "x" * 60)), "metadata.name"),
    (
        "tls-operator-only",
        cluster(set_path("spec.TLS.static.member.serverSecret", DELETE)),
        "spec.TLS.static.operatorSecret",
    ),
    (
        "tls-server-only",
        cluster(set_path("spec.TLS.static.operatorSecret", DELETE)),
        "spec.TLS.static.member.serverSecret",
    ),
    ("version-not-semver", cluster(set_path("spec.version", "latest")), "spec.version"),
    ("reserved-label", cluster(set_path("spec.pod.labels", {"app": "x"})), "spec.pod.labels"),
    (
        "domain-without-dot",
        cluster(set_path("spec.pod.ClusterDomain", "cluster.local")),
        "spec.pod.ClusterDomain",
    ),
    (
        "bad-quantity",
        cluster(set_path("spec.pod.persistentVolumeClaimSpec.resources.requests.storage", "1 GB")),
        "spec.pod.persistentVolumeClaimSpec.resources.requests.storage",
    ),
    (
        "bad-access-mode",
        cluster(set_path("spec.pod.persistentVolumeClaimSpec.accessModes", ["RWO"])),
        "spec.pod.persistentVolumeClaimSpec.accessModes",
    ),
    ("env-without-name", cluster(set_path("spec.pod.etcdEnv", [{"value": "1"}])), "etcdEnv"),
    ("negative-dns-timeout", cluster(set_path("spec.pod.DNSTimeoutInSecond", -1)), "DNSTimeout"),
    ("wrong-kind", cluster(set_path("kind", "EtcdBackup")), "kind must be EtcdCluster"),
    ("max-backups", backup(set_path("spec.backupPolicy.maxBackups", -1)), "maxBackups"),
    ("interval", backup(set_path("spec.backupPolicy.backupIntervalInSecond", -5)), "Interval"),
    ("timeout", backup(set_path("spec.backupPolicy.timeoutInSecond", -1)), "timeoutInSecond"),
    ("storage-type", backup(set_path("spec.storageType", "NFS")), "spec.storageType"),
    ("s3-missing", backup(set_path("spec.s3", DELETE)), "spec.s3 is required"),
    ("path-no-bucket", backup(set_path("spec.s3.path", "etcd.backup")), "spec.s3.path"),
    ("path-empty-bucket", backup(set_path("spec.s3.path", "/etcd.backup")), "spec.s3.path"),
    ("restore-s3-missing", restore(set_path("spec.s3", DELETE)), "spec.s3 is required"),
    ("restore-type", restore(set_path("spec.backupStorageType", "s3")), "backupStorageType"),
    ("restore-no-cluster", restore(set_path("spec.etcdCluster", DELETE)), "spec.etcdCluster"),
    (
        "restore-other-name",
        restore(set_path("spec.etcdCluster.name", "other")),
        "metadata.name must equal spec.etcdCluster.name",
    ),
]


@pytest.mark.parametrize(
    ("case", "expected"), [(c, e) for _, c, e in INVALID], ids=[i for i, *_ in INVALID]
)
def test_invalid_object_is_rejected_naming_the_field(
    case: tuple[type[KubeObject], Doc], expected: str
) -> None:
    kind, document = case
    with pytest.raises(ValidationError) as error:
        kind.model_validate(document)
    assert expected in str(error.value)


@pytest.mark.parametrize("storage", ["ABS", "GCS", "OSS"], ids=lambda s: f"{s}-needs-its-source")
def test_each_storage_type_requires_its_source(storage: str) -> None:
    _, document = backup(set_path("spec.storageType", storage))
    with pytest.raises(ValidationError, match=f"spec.{storage.lower()} is required"):
        EtcdBackup.model_validate(document)


def test_other_stores_are_accepted_with_their_source() -> None:
    document = load_seed(BACKUP)
    document["spec"] |= {"storageType": "GCS", "gcs": {"path": "bucket/etcd.backup"}}
    assert EtcdBackup.model_validate(document).spec.storage_type == "GCS"


def test_tls_with_peer_secret_only_is_valid() -> None:
    _, document = cluster(set_path("spec.TLS", {"static": {"member": {"peerSecret": "peer"}}}))
    spec = EtcdCluster.model_validate(document).spec
    assert spec.is_secure_peer and not spec.is_secure_client


def test_boundaries_are_valid() -> None:
    for size in (1, 7):
        EtcdCluster.model_validate(cluster(set_path("spec.size", size))[1])
    EtcdCluster.model_validate(cluster(set_path("metadata.name", "x" * 52))[1])
    EtcdBackup.model_validate(backup(set_path("spec.backupPolicy.maxBackups", 0))[1])


def test_validation_does_not_modify_the_input() -> None:
    document = load_seed(CLUSTER)
    before = copy.deepcopy(document)
    EtcdCluster.model_validate(document)
    assert document == before
