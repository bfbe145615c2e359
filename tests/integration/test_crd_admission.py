"""The generated CRDs on the real API server (after `make install`): established, the user's
manifests admitted unchanged, full objects kept whole, invalid objects rejected with messages
naming the field, and the printer columns shown by `kubectl get`."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from api import KINDS, EtcdBackup, EtcdCluster, EtcdRestore, KubeObject
from tests.conftest import Kubectl
from tests.seed import (
    BACKUP,
    CLUSTER,
    DELETE,
    RESTORE,
    ROOT,
    SEED,
    Doc,
    load,
    load_seed,
    set_field,
)

pytestmark = pytest.mark.integration

FULL = ROOT / "tests" / "fixtures" / "full"


def missing(sent: Any, got: Any, path: str = "") -> list[str]:
    """Where `got` (what the API server returned) lacks or changed something of `sent`."""
    if isinstance(sent, dict) and isinstance(got, dict):
        return [m for k, v in sent.items() for m in missing(v, got.get(k), f"{path}.{k}")]
    if isinstance(sent, list) and isinstance(got, list) and len(sent) == len(got):
        return [
            m
            for i, (s, g) in enumerate(zip(sent, got, strict=True))
            for m in missing(s, g, f"{path}[{i}]")
        ]
    return [] if sent == got else [f"{path}: sent {sent!r}, got {got!r}"]


def dry_run_apply(kubectl: Kubectl, namespace: str, document: Doc) -> Any:
    return kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-f", "-", "-o", "json",
        stdin=yaml.safe_dump(document), check=False,
    )  # fmt: skip


def test_crds_are_established(kubectl: Kubectl) -> None:
    for kind in KINDS:
        crd = json.loads(kubectl("get", "crd", kind.names.crd_name, "-o", "json").stdout)
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions.get("Established") == "True", (kind.__name__, conditions)
        assert conditions.get("NamesAccepted") == "True", (kind.__name__, conditions)


@pytest.mark.parametrize("name", [CLUSTER, BACKUP, RESTORE])
def test_seed_manifest_is_accepted_unchanged(kubectl: Kubectl, namespace: str, name: str) -> None:
    path = SEED / name
    proc = kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(path), "-o", "json")
    stored = json.loads(proc.stdout)
    sent = load(path)
    # The server may add defaults (repository, version, busyboxImage) but changes nothing sent.
    assert missing(sent["spec"], stored["spec"]) == []
    assert missing(sent["metadata"], stored["metadata"]) == []


def edit(name: str, path: str, value: Any) -> Doc:
    """The seed `name` with the field at dotted `path` set to `value` (DELETE removes it)."""
    document = load_seed(name)
    set_field(document, path, value)
    return document


TLS_TOGETHER = (
    "spec.TLS.static.operatorSecret and spec.TLS.static.member.serverSecret must be set together"
)
PVC = "spec.pod.persistentVolumeClaimSpec"

# (id, invalid document, texts stderr must contain)
INVALID: list[tuple[str, Callable[[], Doc], list[str]]] = [
    ("size-0", lambda: edit(CLUSTER, "spec.size", 0), ["spec.size", "greater than or equal to 1"]),
    ("size-8", lambda: edit(CLUSTER, "spec.size", 8), ["spec.size", "less than or equal to 7"]),
    ("size-three", lambda: edit(CLUSTER, "spec.size", "three"), ["spec.size", "type integer"]),
    ("size-missing", lambda: edit(CLUSTER, "spec.size", DELETE), ["spec.size", "Required"]),
    (
        "name-60",
        lambda: edit(CLUSTER, "metadata.name", "a" * 60),
        ["metadata.name: Invalid value", "metadata.name must be at most 52 characters"],
    ),
    (
        "tls-operator-secret-only",
        lambda: edit(CLUSTER, "spec.TLS.static.member.serverSecret", DELETE),
        ["spec.TLS.static", TLS_TOGETHER],
    ),
    (
        "tls-server-secret-only",
        lambda: edit(CLUSTER, "spec.TLS.static.operatorSecret", DELETE),
        ["spec.TLS.static", TLS_TOGETHER],
    ),
    ("version-latest", lambda: edit(CLUSTER, "spec.version", "latest"), ["spec.version"]),
    (
        "reserved-pod-label",
        lambda: edit(CLUSTER, "spec.pod.labels", {"etcd_cluster": "x"}),
        ["spec.pod.labels: Invalid value", "must not use the operator's reserved keys"],
    ),
    (
        "cluster-domain-without-dot",
        lambda: edit(CLUSTER, "spec.pod.ClusterDomain", "cluster.local"),
        ["spec.pod.ClusterDomain"],
    ),
    (
        "storage-1-GB",
        lambda: edit(CLUSTER, f"{PVC}.resources.requests.storage", "1 GB"),
        [f"{PVC}.resources.requests.storage"],
    ),
    (
        "access-mode-RWO",
        lambda: edit(CLUSTER, f"{PVC}.accessModes", ["RWO"]),
        [f"{PVC}.accessModes[0]", "Unsupported value"],
    ),
    (
        "env-without-name",
        lambda: edit(CLUSTER, "spec.pod.etcdEnv", [{"value": "1"}]),
        ["spec.pod.etcdEnv[0].name", "Required"],
    ),
    ("unknown-field", lambda: edit(CLUSTER, "spec.sise", 3), ['unknown field "spec.sise"']),
    (
        "negative-max-backups",
        lambda: edit(BACKUP, "spec.backupPolicy.maxBackups", -1),
        ["spec.backupPolicy.maxBackups", "greater than or equal to 0"],
    ),
    (
        "negative-interval",
        lambda: edit(BACKUP, "spec.backupPolicy.backupIntervalInSecond", -125),
        ["spec.backupPolicy.backupIntervalInSecond", "greater than or equal to 0"],
    ),
    (
        "negative-timeout",
        lambda: edit(BACKUP, "spec.backupPolicy.timeoutInSecond", -1),
        ["spec.backupPolicy.timeoutInSecond", "greater than or equal to 0"],
    ),
    ("path-without-bucket", lambda: edit(BACKUP, "spec.s3.path", "etcd.backup"), ["spec.s3.path"]),
    ("path-empty-bucket", lambda: edit(BACKUP, "spec.s3.path", "/etcd.backup"), ["spec.s3.path"]),
    (
        "storage-type-NFS",
        lambda: edit(BACKUP, "spec.storageType", "NFS"),
        ["spec.storageType", "Unsupported value", '"NFS"'],
    ),
    (
        "s3-missing",
        lambda: edit(BACKUP, "spec.s3", DELETE),
        ["spec.s3: Required value", "spec.s3 is required when spec.storageType is S3"],
    ),
    (
        "interval-as-string",
        lambda: edit(BACKUP, "spec.backupPolicy.backupIntervalInSecond", "125s"),
        ["spec.backupPolicy.backupIntervalInSecond", "type integer"],
    ),
    (
        "restore-s3-missing",
        lambda: edit(RESTORE, "spec.s3", DELETE),
        ["spec.s3: Required value", "spec.s3 is required when spec.backupStorageType is S3"],
    ),
    (
        "restore-storage-type-lowercase",
        lambda: edit(RESTORE, "spec.backupStorageType", "s3"),
        ["spec.backupStorageType", "Unsupported value"],
    ),
    (
        "restore-path-without-bucket",
        lambda: edit(RESTORE, "spec.s3.path", "etcd.backup"),
        ["spec.s3.path"],
    ),
    (
        "restore-named-unlike-cluster",
        lambda: edit(RESTORE, "spec.etcdCluster.name", "other"),
        ["metadata.name must equal spec.etcdCluster.name"],
    ),
]


@pytest.mark.parametrize(
    ("make", "expected"), [(m, e) for _, m, e in INVALID], ids=[i for i, *_ in INVALID]
)
def test_invalid_object_is_rejected_naming_the_field(
    kubectl: Kubectl, namespace: str, make: Callable[[], Doc], expected: list[str]
) -> None:
    proc = dry_run_apply(kubectl, namespace, make())
    assert proc.returncode != 0, f"accepted: {proc.stdout}"
    for text in expected:
        assert text in proc.stderr


FULL_FILES: dict[type[KubeObject], str] = {
    EtcdCluster: "etcdcluster.yaml",
    EtcdBackup: "etcdbackup.yaml",
    EtcdRestore: "etcdrestore.yaml",
}
HEADERS: dict[type[KubeObject], list[str]] = {
    EtcdCluster: ["NAME", "SIZE", "VERSION", "PHASE", "READY", "AGE"],
    EtcdBackup: ["NAME", "STORAGE", "SUCCEEDED", "REVISION", "LAST SUCCESS", "AGE"],
    EtcdRestore: ["NAME", "CLUSTER", "SUCCEEDED", "AGE"],
}


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_full_object_keeps_every_field(
    kubectl: Kubectl, namespace: str, kind: type[KubeObject]
) -> None:
    document = load(FULL / FULL_FILES[kind])
    status = document.pop("status")
    spec = document["spec"]
    if kind is EtcdBackup:
        spec["storageType"] = "GCS"  # a running operator answers "not supported" and does nothing
    if kind is EtcdRestore:
        spec["backupStorageType"] = "GCS"
    kubectl("create", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(document))
    plural, name = kind.names.plural, document["metadata"]["name"]
    stored = json.loads(kubectl("get", plural, name, "-n", namespace, "-o", "json").stdout)
    assert missing(spec, stored["spec"]) == []

    patch = json.dumps({"status": status})
    proc = kubectl(
        "patch", plural, name, "-n", namespace, "--subresource=status", "--type=merge",
        "-p", patch, "--dry-run=server", "-o", "json",
    )  # fmt: skip
    assert missing(status, json.loads(proc.stdout)["status"]) == []

    (short_name,) = kind.names.short_names
    header, row = kubectl("get", short_name, name, "-n", namespace).stdout.splitlines()
    assert re.split(r"\s{2,}", header.strip()) == HEADERS[kind]
    assert row.split()[0] == name
    if kind is EtcdCluster:
        assert row.split()[1] == str(spec["size"])
    wide_header = kubectl("get", short_name, name, "-n", namespace, "-o", "wide").stdout
    assert "REASON" in wide_header.splitlines()[0]


def test_validation_of_a_stored_object_on_update(kubectl: Kubectl, namespace: str) -> None:
    """Rules hold on updates too: scaling a stored cluster out of range is refused."""
    document = copy.deepcopy(load(SEED / CLUSTER))
    document["spec"]["paused"] = True
    kubectl("create", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(document))
    proc = kubectl(
        "patch", "etcd", "example", "-n", namespace, "--type=merge",
        "-p", '{"spec": {"size": 9}}', check=False,
    )  # fmt: skip
    assert proc.returncode != 0 and "spec.size" in proc.stderr
    proc = kubectl("scale", "etcd", "example", "-n", namespace, "--replicas=5")
    assert (
        kubectl("get", "etcd", "example", "-n", namespace, "-o", "jsonpath={.spec.size}").stdout
        == "5"
    )
