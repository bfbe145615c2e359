"""The CustomResourceDefinitions of the API: names, schema, subresources and printer columns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.backup import EtcdBackup
from api.cluster import EtcdCluster
from api.crdgen.structural import Schema, structural_errors, to_structural
from api.meta import GROUP, VERSION, KubeObject
from api.restore import EtcdRestore

_TYPE_META = {
    "apiVersion": {
        "type": "string",
        "description": "The versioned schema of this representation of an object.",
    },
    "kind": {"type": "string", "description": "The REST resource this object represents."},
    # The API server validates metadata itself; a CRD schema may only restrict name and
    # generateName. Listing name lets validation rules report errors at metadata.name.
    "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
}


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    type: str
    json_path: str
    description: str
    priority: int = 0

    def to_dict(self) -> dict[str, Any]:
        column: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "jsonPath": self.json_path,
            "description": self.description,
        }
        if self.priority:
            column["priority"] = self.priority
        return column


_AGE = PrinterColumn("Age", "date", ".metadata.creationTimestamp", "Time since creation")


@dataclass(frozen=True)
class CrdSpec:
    """What a kind's CRD needs beyond its pydantic model."""

    model: type[KubeObject]
    columns: tuple[PrinterColumn, ...]
    # (specReplicasPath, statusReplicasPath) for the scale subresource, if the kind scales.
    scale: tuple[str, str] | None = None


CRDS = (
    CrdSpec(
        EtcdCluster,
        columns=(
            PrinterColumn("Size", "integer", ".spec.size", "Desired number of members"),
            PrinterColumn("Version", "string", ".status.currentVersion", "Running etcd version"),
            PrinterColumn("Phase", "string", ".status.phase", "Life-cycle phase"),
            PrinterColumn("Ready", "integer", ".status.readyMembers", "Ready members"),
            _AGE,
            PrinterColumn("Reason", "string", ".status.reason", "Why the phase", priority=1),
        ),
        scale=(".spec.size", ".status.size"),
    ),
    CrdSpec(
        EtcdBackup,
        columns=(
            PrinterColumn("Storage", "string", ".spec.storageType", "Backup storage type"),
            PrinterColumn("Succeeded", "boolean", ".status.succeeded", "Latest backup succeeded"),
            PrinterColumn("Revision", "integer", ".status.etcdRevision", "Revision backed up"),
            PrinterColumn(
                "Last Success", "date", ".status.lastSuccessDate", "Latest successful backup"
            ),
            _AGE,
            PrinterColumn("Reason", "string", ".status.Reason", "Why it failed", priority=1),
            PrinterColumn(
                "Last Backup",
                "string",
                ".status.lastBackupPath",
                "Latest successful backup, as an EtcdRestore's s3.path takes it",
                priority=1,
            ),
            PrinterColumn(
                "Bytes",
                "integer",
                ".status.lastBackupSizeBytes",
                "Size of the latest successful backup",
                priority=1,
            ),
        ),
    ),
    CrdSpec(
        EtcdRestore,
        columns=(
            PrinterColumn("Cluster", "string", ".spec.etcdCluster.name", "Cluster restored"),
            PrinterColumn("Succeeded", "boolean", ".status.succeeded", "Restore succeeded"),
            _AGE,
            PrinterColumn("Reason", "string", ".status.reason", "Why it failed", priority=1),
        ),
    ),
)


def openapi_schema(model: type[KubeObject]) -> Schema:
    """The kind's openAPIV3Schema: its model's schema, made structural, with standard TypeMeta."""
    schema = to_structural(model.model_json_schema(by_alias=True, mode="validation"))
    schema["properties"].update(_TYPE_META)
    schema["required"] = ["spec"]
    errors = structural_errors(schema)
    if errors:
        raise ValueError(f"{model.__name__}: schema is not structural:\n" + "\n".join(errors))
    return schema


def crd_document(crd: CrdSpec) -> dict[str, Any]:
    names = crd.model.names
    subresources: dict[str, Any] = {"status": {}}
    if crd.scale:
        spec_path, status_path = crd.scale
        subresources["scale"] = {"specReplicasPath": spec_path, "statusReplicasPath": status_path}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": names.crd_name},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": names.kind,
                "listKind": names.list_kind,
                "plural": names.plural,
                "singular": names.singular,
                "shortNames": list(names.short_names),
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": openapi_schema(crd.model)},
                    "subresources": subresources,
                    "additionalPrinterColumns": [c.to_dict() for c in crd.columns],
                }
            ],
        },
    }
