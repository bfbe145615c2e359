"""`kubectl get etcd -o wide` on the real API server (after `make install`) shows each
cluster's size, version, phase, ready members and the phase's reason, from a status written
through the status subresource as the operator writes it; `kubectl get etcdbk -o wide` shows
the latest backup's object and size. No operator manages the test's namespace, so the status
stays as written."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.conftest import Kubectl

pytestmark = pytest.mark.integration


def table(kubectl: Kubectl, *args: str) -> dict[str, str]:
    """The one row `kubectl get ...` prints, by column header: kubectl left-aligns each value
    under its header, so a cell is the row's text from its header's start to the next one's
    (an empty value is an empty cell)."""
    header, row = kubectl("get", *args).stdout.splitlines()
    starts = [(m.start(), m.group()) for m in re.finditer(r"\S+(?: \S+)*", header)]
    ends = [start for start, _ in starts[1:]] + [len(row)]
    return {name: row[start:end].strip() for (start, name), end in zip(starts, ends, strict=True)}


def create_with_status(kubectl: Kubectl, namespace: str, document: dict, status: dict) -> None:
    kubectl("create", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(document))
    kind, name = document["kind"].lower(), document["metadata"]["name"]
    patch = json.dumps({"status": status})
    kubectl(
        "patch", kind, name, "-n", namespace, "--subresource=status", "--type=merge", "-p", patch
    )


def test_get_etcd_wide_shows_size_ready_version_phase_and_reason(
    kubectl: Kubectl, namespace: str
) -> None:
    cluster = {
        "apiVersion": "etcd.database.coreos.com/v1beta2",
        "kind": "EtcdCluster",
        "metadata": {"name": "columns"},
        "spec": {"size": 3, "version": "3.6.16"},
    }
    status = {
        "phase": "Degraded",
        "reason": "MemberPodMissing",
        "size": 3,
        "readyMembers": 2,
        "currentVersion": "3.6.16",
        "members": {"ready": ["columns-a", "columns-b"], "unready": ["columns-c"]},
    }
    create_with_status(kubectl, namespace, cluster, status)

    shown = table(kubectl, "etcd", "columns", "-n", namespace)
    assert list(shown) == ["NAME", "SIZE", "VERSION", "PHASE", "READY", "AGE"]
    assert (shown["NAME"], shown["SIZE"], shown["READY"]) == ("columns", "3", "2")
    assert (shown["VERSION"], shown["PHASE"]) == ("3.6.16", "Degraded")
    assert re.fullmatch(r"\d+[smhd]", shown["AGE"])

    wide = table(kubectl, "etcd", "columns", "-n", namespace, "-o", "wide")
    assert list(wide) == ["NAME", "SIZE", "VERSION", "PHASE", "READY", "AGE", "REASON"]
    assert {k: v for k, v in wide.items() if k != "AGE"} == {
        "NAME": "columns",
        "SIZE": "3",
        "VERSION": "3.6.16",
        "PHASE": "Degraded",
        "READY": "2",
        "REASON": "MemberPodMissing",
    }


def test_get_etcdbackup_wide_shows_the_latest_backups_object_and_size(
    kubectl: Kubectl, namespace: str
) -> None:
    backup = {
        "apiVersion": "etcd.database.coreos.com/v1beta2",
        "kind": "EtcdBackup",
        "metadata": {"name": "columns"},
        # GCS: an operator that did see it would only answer "not supported" and do nothing.
        "spec": {"storageType": "GCS", "gcs": {"path": "bucket/etcd.backup", "gcpSecret": "gcp"}},
    }
    status = {
        "succeeded": True,
        "etcdVersion": "3.6.16",
        "etcdRevision": 101,
        "lastSuccessDate": "2026-11-28T05:00:00Z",
        "lastBackupPath": "bucket/etcd.backup_v101_2026-11-28-05:00:00",
        "lastBackupSizeBytes": 8589934592,  # 8 GiB: more than 32 bits
    }
    create_with_status(kubectl, namespace, backup, status)

    wide = table(kubectl, "etcdbk", "columns", "-n", namespace, "-o", "wide")
    assert list(wide)[-3:] == ["REASON", "LAST BACKUP", "BYTES"]
    assert (wide["SUCCEEDED"], wide["REVISION"], wide["REASON"]) == ("true", "101", "")
    assert wide["LAST BACKUP"] == "bucket/etcd.backup_v101_2026-11-28-05:00:00"
    assert wide["BYTES"] == "8589934592"
