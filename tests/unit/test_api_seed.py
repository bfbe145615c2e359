"""The user's manifests (shared/seed/manifests) parse into the typed API and serialise back
unchanged, and the copies vendored under tests/fixtures/seed stay byte-identical to them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from api import EtcdBackup, EtcdCluster, EtcdRestore, KubeObject
from api.meta import WireModel
from tests.seed import BACKUP, CLUSTER, RESTORE, SHARED_SEED, VENDORED_SEED, load

SHARED, VENDORED = SHARED_SEED, VENDORED_SEED
SEEDS: dict[str, type[KubeObject]] = {
    CLUSTER: EtcdCluster,
    BACKUP: EtcdBackup,
    RESTORE: EtcdRestore,
}
SEED_DIRS = [VENDORED, *([SHARED] if SHARED.is_dir() else [])]
CASES = [(d, name) for d in SEED_DIRS for name in SEEDS]


def untyped_fields(model: BaseModel, path: str = "") -> list[str]:
    """Fields kept only as extras (not parsed into a declared field) in our own API types."""
    found = []
    if isinstance(model, WireModel) and not model.preserve_unknown_fields:
        found += [f"{path}.{k}" for k in model.model_extra or {}]
    for name in type(model).model_fields:
        value = getattr(model, name)
        children = value if isinstance(value, list) else [value]
        for child in children:
            if isinstance(child, BaseModel):
                found += untyped_fields(child, f"{path}.{name}")
    return found


@pytest.mark.parametrize(
    ("directory", "name"), CASES, ids=[f"{d.parent.name}/{n}" for d, n in CASES]
)
def test_seed_round_trips_unchanged(directory: Path, name: str) -> None:
    document = load(directory / name)
    obj = SEEDS[name].model_validate(document)
    assert obj.to_dict() == document


@pytest.mark.parametrize("name", SEEDS)
def test_every_seed_field_lands_in_a_declared_field(name: str) -> None:
    obj = SEEDS[name].model_validate(load(VENDORED / name))
    assert untyped_fields(obj) == []


def test_seed_values_are_typed() -> None:
    cluster = EtcdCluster.model_validate(load(VENDORED / "example-etcd-cluster.yaml"))
    assert cluster.name == "example"
    assert cluster.spec.size == 3
    assert cluster.spec.is_secure_peer and cluster.spec.is_secure_client
    assert cluster.spec.static_tls.operator_secret == "etcd-addops-client-tls"
    pvc = cluster.spec.pod.persistent_volume_claim_spec
    assert pvc is not None and pvc.storage_class_name == "rbd"
    assert pvc.resources is not None and pvc.resources.requests == {"storage": "1Gi"}
    assert cluster.spec.pod.annotations["prometheus.io/port"] == "2379"

    backup = EtcdBackup.model_validate(load(VENDORED / "periodic_backup_cr.yaml"))
    assert backup.spec.is_periodic
    assert backup.spec.backup_policy is not None and backup.spec.backup_policy.max_backups == 4
    assert backup.spec.s3 is not None and backup.spec.s3.force_path_style
    assert (backup.spec.s3.bucket, backup.spec.s3.key) == ("etcd-bucket", "etcd.backup")
    assert backup.spec.client_tls_secret == "etcd-addops-client-tls"

    restore = EtcdRestore.model_validate(load(VENDORED / "restore_cr.yaml"))
    assert restore.spec.etcd_cluster.name == "example"
    assert restore.spec.s3 is not None
    assert restore.spec.s3.key == "etcd.backup_v2_2019-10-11-08:53:40"


def test_vendored_seeds_equal_the_shared_ones() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not present in this checkout's surroundings")
    assert sorted(p.name for p in SHARED.glob("*.yaml")) == sorted(SEEDS)
    for name in SEEDS:
        assert (VENDORED / name).read_bytes() == (SHARED / name).read_bytes(), name
