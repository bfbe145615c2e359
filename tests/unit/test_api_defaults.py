"""Defaults: CoreOS's documented values (version aside), applied by the models without being
written back, and identical to the `default:` values of the generated CRD schema."""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from api import KINDS, ClusterPhase, EtcdBackup, EtcdCluster, KubeObject
from api.crdgen.crds import openapi_schema
from api.defaults import DEFAULT_ETCD_VERSION

MINIMAL_CLUSTER = {
    "apiVersion": "etcd.database.coreos.com/v1beta2",
    "kind": "EtcdCluster",
    "metadata": {"name": "small"},
    "spec": {"size": 1},
}


def test_cluster_defaults_match_coreos() -> None:
    cluster = EtcdCluster.model_validate(MINIMAL_CLUSTER)
    spec = cluster.spec
    assert spec.repository == "quay.io/coreos/etcd"
    assert spec.version == DEFAULT_ETCD_VERSION == "3.6.16"
    assert spec.image == "quay.io/coreos/etcd:v3.6.16"
    assert spec.paused is False
    assert spec.tls is None and not spec.is_secure_client and not spec.is_secure_peer
    assert spec.pod.busybox_image == "busybox:1.28.0-glibc"
    assert spec.pod.dns_timeout_in_second == 0
    assert spec.pod.cluster_domain == ""
    assert spec.pod.persistent_volume_claim_spec is None
    assert cluster.status.phase is ClusterPhase.NONE
    assert cluster.status.members.ready == []


def test_defaults_are_not_written_back() -> None:
    assert EtcdCluster.model_validate(MINIMAL_CLUSTER).to_dict() == MINIMAL_CLUSTER


def test_leading_v_of_a_version_is_kept_on_the_wire_and_ignored_for_the_image() -> None:
    cluster = EtcdCluster.model_validate(
        {**MINIMAL_CLUSTER, "spec": {"size": 1, "version": "v3.7.3"}}
    )
    assert cluster.spec.etcd_version == "3.7.3"
    assert cluster.spec.image == "quay.io/coreos/etcd:v3.7.3"
    assert cluster.to_dict()["spec"]["version"] == "v3.7.3"


def test_backup_policy_zero_values_mean_one_shot_and_keep_all() -> None:
    backup = EtcdBackup.model_validate(
        {
            "kind": "EtcdBackup",
            "metadata": {"name": "once"},
            "spec": {"storageType": "S3", "s3": {"path": "b/k", "awsSecret": "aws"}},
        }
    )
    assert backup.spec.backup_policy is None and not backup.spec.is_periodic


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in (list, dict, Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _models_in(arg)]
    return []


def model_defaults(model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    """Non-zero field defaults by wire path; list items share their list's path."""
    found: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        path = f"{prefix}.{info.serialization_alias or info.alias or name}"
        if prefix == "" and name in ("api_version", "kind", "metadata"):
            continue  # TypeMeta and metadata are the API server's, not defaulted by the schema
        if not info.is_required() and info.default_factory is None and info.default:
            found[path] = info.default
        for sub in _models_in(info.annotation):
            found |= model_defaults(sub, path)
    return found


def schema_defaults(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, sub in node.get("properties", {}).items():
        path = f"{prefix}.{name}"
        if "default" in sub:
            found[path] = sub["default"]
        found |= schema_defaults(sub, path)
        found |= schema_defaults(sub.get("items", {}), path)
    return found


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_schema_defaults_are_the_model_defaults(kind: type[KubeObject]) -> None:
    assert schema_defaults(openapi_schema(kind)) == model_defaults(kind)


def test_cluster_schema_defaults_are_the_documented_ones() -> None:
    assert schema_defaults(openapi_schema(EtcdCluster)) == {
        ".spec.repository": "quay.io/coreos/etcd",
        ".spec.version": "3.6.16",
        ".spec.pod.busyboxImage": "busybox:1.28.0-glibc",
    }
