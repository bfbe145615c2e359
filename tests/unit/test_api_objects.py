"""Fully populated objects keep every field (embedded Kubernetes fields included), objects
built or changed in code serialise what changed, and the condition helpers behave."""

from __future__ import annotations

import types
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import pytest
import yaml
from pydantic import BaseModel

from api import (
    KINDS,
    ClusterPhase,
    ClusterSpec,
    Condition,
    ConditionStatus,
    EtcdBackup,
    EtcdCluster,
    EtcdRestore,
    KubeObject,
    ObjectMeta,
    find_condition,
    parse_object,
    remove_condition,
    set_condition,
)
from api.core import KubeType

FULL = Path(__file__).parents[1] / "fixtures" / "full"
FULL_FILES: dict[type[KubeObject], str] = {
    EtcdCluster: "etcdcluster.yaml",
    EtcdBackup: "etcdbackup.yaml",
    EtcdRestore: "etcdrestore.yaml",
}


def full(kind: type[KubeObject]) -> dict[str, Any]:
    return yaml.safe_load((FULL / FULL_FILES[kind]).read_text())


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_fully_populated_object_round_trips(kind: type[KubeObject]) -> None:
    document = full(kind)
    assert kind.model_validate(document).to_dict() == document


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in (list, Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _models_in(arg)]
    return []


def missing_fields(model: type[BaseModel], value: Any, path: str) -> list[str]:
    """Declared fields of `model` that `value` (a wire dict, or a list of them) never sets."""
    items = value if isinstance(value, list) else [value]
    missing = []
    for name, info in model.model_fields.items():
        wire = info.serialization_alias or info.alias or name
        present = [item[wire] for item in items if wire in item]
        if not present:
            missing.append(f"{path}.{wire}")
        for sub in _models_in(info.annotation):
            if present and not issubclass(sub, ObjectMeta):
                flat = [p for v in present for p in (v if isinstance(v, list) else [v])]
                missing += missing_fields(sub, flat, f"{path}.{wire}")
    return missing


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_full_fixtures_set_every_declared_field(kind: type[KubeObject]) -> None:
    """So the round trip above (and the admission test using these files) covers all fields."""
    document = full(kind)
    assert [m for m in missing_fields(kind, document, "") if not m.startswith(".metadata.")] == []


def test_unknown_fields_of_embedded_kubernetes_types_are_kept() -> None:
    document = full(EtcdCluster)
    cluster = EtcdCluster.model_validate(document)
    assert isinstance(cluster.spec.pod.resources, KubeType)
    assert cluster.spec.pod.resources.model_extra == {"claims": [{"name": "gpu"}]}
    assert cluster.spec.pod.affinity is not None
    node_affinity = cluster.spec.pod.affinity.node_affinity
    assert node_affinity == document["spec"]["pod"]["affinity"]["nodeAffinity"]
    document["spec"]["pod"]["persistentVolumeClaimSpec"]["futureField"] = {"a": [1]}
    assert EtcdCluster.model_validate(document).to_dict() == document


def test_server_written_metadata_round_trips() -> None:
    document = full(EtcdCluster)
    document["metadata"] |= {
        "namespace": "default",
        "uid": "ec1badef-3df4-4f8a-8b96-2452d03563d5",
        "resourceVersion": "12345",
        "generation": 3,
        "creationTimestamp": "2026-11-28T05:15:36Z",
        "finalizers": ["etcd.database.coreos.com/cleanup"],
        "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u", "controller": True}
        ],
        "managedFields": [
            {"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:spec": {}}}
        ],
    }
    cluster = EtcdCluster.model_validate(document)
    assert (cluster.name, cluster.namespace, cluster.metadata.generation) == ("full", "default", 3)
    assert cluster.to_dict() == document


def test_object_built_in_code_serialises_what_was_set() -> None:
    cluster = EtcdCluster(metadata=ObjectMeta(name="a", namespace="ns"), spec=ClusterSpec(size=3))
    assert cluster.to_dict() == {
        "apiVersion": "etcd.database.coreos.com/v1beta2",
        "kind": "EtcdCluster",
        "metadata": {"name": "a", "namespace": "ns"},
        "spec": {"size": 3},
    }


def test_changes_made_in_place_are_serialised() -> None:
    cluster = EtcdCluster(metadata=ObjectMeta(name="a"), spec=ClusterSpec(size=3))
    now = datetime(2026, 11, 28, 5, 0, 0, 123456, tzinfo=UTC)
    cluster.spec.pod.labels["team"] = "storage"
    cluster.status.phase = ClusterPhase.RUNNING
    cluster.status.set_members(ready=["a-2", "a-1"], unready=[])
    set_condition(cluster.status.conditions, "Available", ConditionStatus.TRUE, "Ok", "", now)
    body = cluster.to_dict()
    assert body["spec"]["pod"] == {"labels": {"team": "storage"}}
    assert body["status"] == {
        "phase": "Running",
        "members": {"ready": ["a-1", "a-2"], "unready": []},
        "readyMembers": 2,
        "conditions": [
            {
                "type": "Available",
                "status": "True",
                "reason": "Ok",
                "message": "",
                "lastUpdateTime": "2026-11-28T05:00:00Z",
                "lastTransitionTime": "2026-11-28T05:00:00Z",
            }
        ],
    }


def test_wrong_kind_or_api_version_is_rejected() -> None:
    with pytest.raises(ValueError, match="kind must be EtcdRestore"):
        EtcdRestore.model_validate(full(EtcdBackup))
    with pytest.raises(ValueError, match="apiVersion must be"):
        EtcdBackup.model_validate(full(EtcdBackup) | {"apiVersion": "etcd.database.coreos.com/v1"})


def test_set_condition_moves_transition_time_only_when_status_changes() -> None:
    t0, t1, t2 = (datetime(2026, 1, 1, h, tzinfo=UTC) for h in (0, 1, 2))
    conditions: list[Condition] = []
    assert set_condition(conditions, "Scaling", ConditionStatus.TRUE, "Up", "1 to 3", t0)
    assert not set_condition(conditions, "Scaling", ConditionStatus.TRUE, "Up", "1 to 3", t1)
    assert set_condition(conditions, "Scaling", ConditionStatus.TRUE, "Up", "2 to 3", t1)
    scaling = find_condition(conditions, "Scaling")
    assert scaling is not None
    assert (scaling.last_transition_time, scaling.last_update_time) == (t0, t1)
    assert set_condition(conditions, "Scaling", ConditionStatus.FALSE, "Done", "", t2)
    assert (scaling.last_transition_time, scaling.last_update_time) == (t2, t2)
    assert remove_condition(conditions, "Scaling") and conditions == []
    assert not remove_condition(conditions, "Scaling")


def test_timestamps_are_written_in_utc_at_second_precision() -> None:
    document = full(EtcdBackup)
    document["status"]["lastSuccessDate"] = "2026-11-28T06:00:00.5+01:00"
    backup = EtcdBackup.model_validate(document)
    assert backup.to_dict()["status"]["lastSuccessDate"] == "2026-11-28T05:00:00Z"


def test_nulls_written_by_go_clients_read_as_absent() -> None:
    """CoreOS's operator wrote `conditions: null` and `lastSuccessDate: null` for empty values."""
    cluster = EtcdCluster.model_validate(
        {
            "kind": "EtcdCluster",
            "metadata": {"name": "old", "labels": None},
            "spec": {"size": 3, "pod": None, "TLS": None},
            "status": {"phase": "Running", "conditions": None, "members": {"ready": None}},
        }
    )
    assert cluster.status.conditions == [] and cluster.status.members.ready == []
    assert cluster.to_dict()["status"] == {"phase": "Running", "members": {}}
    backup = EtcdBackup.model_validate(
        full(EtcdBackup) | {"status": {"succeeded": True, "lastSuccessDate": None}}
    )
    assert backup.status.last_success_date is None


def test_parse_object_picks_the_kind() -> None:
    for kind in KINDS:
        assert type(parse_object(full(kind))) is kind
    with pytest.raises(ValueError, match="not a kind of"):
        parse_object({"kind": "Pod"})
