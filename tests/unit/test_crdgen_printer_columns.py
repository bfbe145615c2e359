"""The printer columns of the generated CRDs: `kubectl get etcd` shows size, ready members,
version and phase, `-o wide` adds the reason, and every column of every kind names a field of
its schema with the column's type and a value in a fully populated object (no column stays
empty for want of a field). tests/integration/test_printer_columns.py reads them back from
kubectl on the real API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from api import KINDS, EtcdCluster, KubeObject
from api.crdgen import render_crds

FULL = Path(__file__).parents[1] / "fixtures" / "full"


def printer_columns(kind: type[KubeObject]) -> list[dict[str, Any]]:
    document = yaml.safe_load(render_crds()[f"{kind.names.crd_name}.yaml"])
    version = document["spec"]["versions"][0]
    columns: list[dict[str, Any]] = version["additionalPrinterColumns"]
    return columns


def schema_node(kind: type[KubeObject], json_path: str) -> dict[str, Any]:
    document = yaml.safe_load(render_crds()[f"{kind.names.crd_name}.yaml"])
    node: dict[str, Any] = document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for name in json_path.removeprefix(".").split("."):
        assert name in node.get("properties", {}), f"{kind.__name__}: no field {json_path}"
        node = node["properties"][name]
    return node


def value_at(document: dict[str, Any], json_path: str) -> Any:
    value: Any = document
    for name in json_path.removeprefix(".").split("."):
        value = value.get(name) if isinstance(value, dict) else None
    return value


def test_get_etcd_shows_size_ready_version_phase_and_wide_adds_the_reason() -> None:
    columns = [
        (c["name"], c["type"], c["jsonPath"], c.get("priority", 0))
        for c in printer_columns(EtcdCluster)
    ]
    assert columns == [
        ("Size", "integer", ".spec.size", 0),
        ("Version", "string", ".status.currentVersion", 0),
        ("Phase", "string", ".status.phase", 0),
        ("Ready", "integer", ".status.readyMembers", 0),
        ("Age", "date", ".metadata.creationTimestamp", 0),
        ("Reason", "string", ".status.reason", 1),  # priority 1: -o wide only
    ]
    assert all(c["description"] for c in printer_columns(EtcdCluster))


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_every_column_names_a_field_of_its_type(kind: type[KubeObject]) -> None:
    for column in printer_columns(kind):
        if column["jsonPath"] == ".metadata.creationTimestamp":
            assert column["type"] == "date"  # set by the API server, not in the CRD's schema
            continue
        node = schema_node(kind, column["jsonPath"])
        if column["type"] == "date":
            assert (node.get("type"), node.get("format")) == ("string", "date-time"), column
        else:
            assert node.get("type") == column["type"], column


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_every_column_has_a_value_in_a_fully_populated_object(kind: type[KubeObject]) -> None:
    document = yaml.safe_load((FULL / f"{kind.names.singular}.yaml").read_text())
    for column in printer_columns(kind):
        if column["jsonPath"].startswith(".metadata."):
            continue
        assert value_at(document, column["jsonPath"]) is not None, column
