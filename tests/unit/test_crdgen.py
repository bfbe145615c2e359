"""CRD generation: deterministic, structural, committed, and complete enough that the API
server prunes nothing a valid object carries."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

from api import KINDS, EtcdCluster, KubeObject
from api.crdgen import render_crds
from api.crdgen.__main__ import main
from api.crdgen.crds import CRDS, openapi_schema
from api.crdgen.structural import structural_errors

ROOT = Path(__file__).parents[2]
COMMITTED = ROOT / "manifests" / "crds"
FIXTURES = Path(__file__).parents[1] / "fixtures"
FILES = {
    "etcdclusters.etcd.database.coreos.com.yaml",
    "etcdbackups.etcd.database.coreos.com.yaml",
    "etcdrestores.etcd.database.coreos.com.yaml",
}


@functools.cache
def documents() -> dict[str, dict[str, Any]]:
    return {name: yaml.safe_load(text) for name, text in render_crds().items()}


def schema_of(document: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_generation_is_stable() -> None:
    assert render_crds() == render_crds()
    assert set(render_crds()) == FILES


def test_committed_files_equal_the_generated_ones() -> None:
    for name, text in render_crds().items():
        assert (COMMITTED / name).read_text() == text, f"run `make manifests` ({name})"


def test_check_passes_on_committed_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check", "--out", str(COMMITTED)]) == 0


def test_check_fails_with_a_diff_when_a_file_differs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--check", "--out", str(tmp_path)]) == 0
    target = tmp_path / "etcdclusters.etcd.database.coreos.com.yaml"
    target.write_text(target.read_text().replace("maximum: 7", "maximum: 9"))
    (tmp_path / "etcdbackups.etcd.database.coreos.com.yaml").unlink()
    (tmp_path / "old.etcd.database.coreos.com.yaml").write_text("{}\n")
    capsys.readouterr()
    assert main(["--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "-                maximum: 9" in err and "+                maximum: 7" in err
    assert "etcdbackups.etcd.database.coreos.com.yaml: missing" in err
    assert "old.etcd.database.coreos.com.yaml: stale" in err
    assert "run `make manifests`" in err
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--check", "--out", str(tmp_path)]) == 0


def walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every schema node under `node`, with its path."""
    if not isinstance(node, dict):
        return []
    found = [(path, node)]
    for name, sub in node.get("properties", {}).items():
        found += walk(sub, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        found += walk(node.get(key), f"{path}.{key}")
    return found


@pytest.mark.parametrize("name", sorted(FILES))
def test_schema_is_structural(name: str) -> None:
    document = documents()[name]
    text = yaml.safe_dump(document)
    for forbidden in ("$ref", "$defs", "anyOf", "allOf", "oneOf", "nullable", "title"):
        assert forbidden not in text
    schema = schema_of(document)
    assert structural_errors(schema) == []
    for path, node in walk(schema):
        assert "type" in node or node.get("x-kubernetes-int-or-string"), path
        if node.get("type") == "object":
            assert (
                "properties" in node
                or "additionalProperties" in node
                or node.get("x-kubernetes-preserve-unknown-fields")
                or path == ".metadata"
            ), f"{path}: an object the API server would empty"


def test_crd_shape() -> None:
    for name, document in documents().items():
        assert document["apiVersion"] == "apiextensions.k8s.io/v1"
        assert document["metadata"]["name"] == name.removesuffix(".yaml")
        spec = document["spec"]
        assert spec["group"] == "etcd.database.coreos.com"
        assert spec["scope"] == "Namespaced"
        (version,) = spec["versions"]
        assert (version["name"], version["served"], version["storage"]) == ("v1beta2", True, True)
        assert version["subresources"]["status"] == {}
        assert schema_of(document)["required"] == ["spec"]


def columns(kind: type[KubeObject]) -> list[str]:
    document = documents()[f"{kind.names.crd_name}.yaml"]
    return [c["name"] for c in document["spec"]["versions"][0]["additionalPrinterColumns"]]


def test_names_and_printer_columns() -> None:
    names = {d["spec"]["names"]["kind"]: d["spec"]["names"] for d in documents().values()}
    assert names["EtcdCluster"]["shortNames"] == ["etcd"]
    assert names["EtcdCluster"]["plural"] == "etcdclusters"
    assert names["EtcdBackup"]["listKind"] == "EtcdBackupList"
    all_short = [s for n in names.values() for s in n["shortNames"]]
    assert len(all_short) == len(set(all_short))
    assert columns(KINDS[0]) == ["Size", "Version", "Phase", "Ready", "Age", "Reason"]
    assert columns(KINDS[1]) == [
        "Storage",
        "Succeeded",
        "Revision",
        "Last Success",
        "Age",
        "Reason",
        "Last Backup",
        "Bytes",
    ]
    assert columns(KINDS[2]) == ["Cluster", "Succeeded", "Age", "Reason"]


def test_printer_columns_point_at_schema_fields() -> None:
    for crd in CRDS:
        schema = openapi_schema(crd.model)
        paths = {path for path, _ in walk(schema)}
        for column in crd.columns:
            assert column.json_path in paths or column.json_path.startswith(".metadata."), column


def rules(schema: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    return {
        p: n["x-kubernetes-validations"] for p, n in walk(schema) if "x-kubernetes-validations" in n
    }


def test_cross_field_rules_are_in_the_schema_with_messages_naming_fields() -> None:
    cluster_rules = rules(openapi_schema(EtcdCluster))
    assert set(cluster_rules) == {"", ".spec.pod", ".spec.TLS.static"}
    assert cluster_rules[""] == [
        {
            "rule": "self.metadata.name.size() <= 52",
            "message": "metadata.name must be at most 52 characters"
            " (member pod names add an 11-character suffix)",
            "fieldPath": ".metadata.name",
        }
    ]
    for kind in KINDS:
        for path, found in rules(openapi_schema(kind)).items():
            for rule in found:
                assert rule["message"].startswith(("spec.", "metadata.")), (path, rule)


def test_validations_of_the_schema() -> None:
    spec = schema_of(documents()["etcdclusters.etcd.database.coreos.com.yaml"])["properties"][
        "spec"
    ]
    assert (spec["properties"]["size"]["minimum"], spec["properties"]["size"]["maximum"]) == (1, 7)
    backup = schema_of(documents()["etcdbackups.etcd.database.coreos.com.yaml"])
    bspec = backup["properties"]["spec"]
    assert bspec["properties"]["storageType"]["enum"] == ["S3", "ABS", "GCS", "OSS"]
    policy = bspec["properties"]["backupPolicy"]["properties"]
    assert all(
        policy[f]["minimum"] == 0
        for f in ("maxBackups", "timeoutInSecond", "backupIntervalInSecond")
    )
    assert bspec["properties"]["s3"]["properties"]["path"]["pattern"] == "^[^/]+/.+$"
    assert {r["message"] for r in bspec["x-kubernetes-validations"]} >= {
        "spec.s3 is required when spec.storageType is S3"
    }


def pruned(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Paths the API server's pruning would remove from `value` under `schema`."""
    if schema.get("x-kubernetes-preserve-unknown-fields") and "properties" not in schema:
        return []
    if isinstance(value, list):
        return [
            p
            for i, item in enumerate(value)
            for p in pruned(item, schema.get("items", {}), f"{path}[{i}]")
        ]
    if not isinstance(value, dict) or path == ".metadata":
        return []
    found = []
    for key, sub in value.items():
        if key in schema.get("properties", {}):
            found += pruned(sub, schema["properties"][key], f"{path}.{key}")
        elif isinstance(schema.get("additionalProperties"), dict):
            found += pruned(sub, schema["additionalProperties"], f"{path}.{key}")
        elif not schema.get("x-kubernetes-preserve-unknown-fields"):
            found.append(f"{path}.{key}")
    return found


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_api_server_would_prune_nothing_from_full_objects(kind: type[KubeObject]) -> None:
    name = {"EtcdCluster": "etcdcluster", "EtcdBackup": "etcdbackup", "EtcdRestore": "etcdrestore"}
    document = yaml.safe_load((FIXTURES / "full" / f"{name[kind.__name__]}.yaml").read_text())
    assert pruned(document, openapi_schema(kind)) == []
