"""What a backup needs, read from its spec and Secrets (controller/etcdbackup/observe.py), and
the backup task's own bounds (controller/etcdbackup/task.py): endpoint forms, the Secrets
waited for or refused, the timeout, the failure reasons."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest

from api import EtcdBackup
from controller.clients.etcd import Endpoint, TLSFailure, Unavailable
from controller.clients.etcdsnapshot import SnapshotCorrupt
from controller.clients.s3 import UNREACHABLE, S3Error, S3Settings
from controller.common.resources import SECRETS, Resource
from controller.etcdbackup.observe import INVALID_SPEC, inputs
from controller.etcdbackup.outcome import BackupFailed
from controller.etcdbackup.task import BackupJob, etcd_reason, s3_reason, take_backup
from tests.seed import BACKUP, load_seed, set_field

CREDENTIALS = b"[default]\naws_access_key_id = AKIDEXAMPLE1\naws_secret_access_key = s3cr3tkey\n"


class Secrets:
    """The cache as `inputs` reads it: Secrets by namespace/name."""

    def __init__(self, **secrets: dict[str, bytes]):
        self.objs = {
            f"default/{name.replace('_', '-')}": {
                "metadata": {"name": name.replace("_", "-"), "resourceVersion": "7"},
                "data": {k: base64.b64encode(v).decode() for k, v in files.items()},
            }
            for name, files in secrets.items()
        }

    def get(self, res: Resource, key: str) -> dict[str, Any] | None:
        assert res == SECRETS
        return self.objs.get(key)


TLS_FILES = {"etcd-client-ca.crt": b"ca", "etcd-client.crt": b"cert", "etcd-client.key": b"key"}
ALL = Secrets(aws={"credentials": CREDENTIALS}, etcd_addops_client_tls=TLS_FILES)


def backup(**fields: Any) -> EtcdBackup:
    doc: dict[str, Any] = load_seed(BACKUP)
    set_field(doc, "metadata.namespace", "default")
    for path, value in fields.items():
        set_field(doc, path.replace("__", "."), value)
    return EtcdBackup.model_validate(doc)


def test_the_seed_backup_becomes_a_job() -> None:
    found = inputs(backup(), ALL)  # type: ignore[arg-type]
    job = found.job
    assert job is not None and found.problem is None
    assert job.endpoints == (Endpoint("example-client.default.svc:2379"),)
    assert (job.bucket, job.key, job.periodic, job.max_backups) == (
        "etcd-bucket",
        "etcd.backup",
        True,
        4,
    )
    assert job.tls is not None and job.tls.cert == b"cert"
    assert job.s3.endpoint == "http://xx.xxx.xx.cn" and job.s3.force_path_style
    assert job.timeout == 600.0
    assert "s3cr3tkey" not in repr(job) and "AKIDEXAMPLE1" not in repr(job)


@pytest.mark.parametrize(
    ("endpoints", "tls"),
    [
        (["http://10.0.0.1:2379"], False),
        (["10.0.0.1:2379"], True),  # bare, with a clientTLSSecret: TLS, as etcd's client
        (["https://a.svc:2379", "https://b.svc:2379"], True),
    ],
)
def test_endpoint_forms(endpoints: list[str], tls: bool) -> None:
    job = inputs(backup(spec__etcdEndpoints=endpoints), ALL).job  # type: ignore[arg-type]
    assert job is not None and (job.tls is not None) == tls
    assert [e.address for e in job.endpoints] == [e.split("//")[-1] for e in endpoints]


@pytest.mark.parametrize(
    ("fields", "reason", "words"),
    [
        ({"spec__etcdEndpoints": []}, INVALID_SPEC, "empty"),
        ({"spec__etcdEndpoints": ["https://a:2379", "http://b:2379"]}, INVALID_SPEC, "mixes"),
        ({"spec__etcdEndpoints": ["https://no-port.svc"]}, INVALID_SPEC, "host:port"),
        ({"spec__etcdEndpoints": ["unix:///run/etcd.sock"]}, INVALID_SPEC, "host:port"),
        ({"spec__clientTLSSecret": None}, INVALID_SPEC, "clientTLSSecret"),
        ({"spec__s3__awsSecret": None}, INVALID_SPEC, "awsSecret"),
        (
            {"spec__storageType": "ABS", "spec__abs": {"path": "c/k", "absSecret": "x"}},
            "StorageTypeNotSupported",
            "ABS",
        ),
    ],
)
def test_specs_that_cannot_work_are_reported(
    fields: dict[str, Any], reason: str, words: str
) -> None:
    found = inputs(backup(**fields), ALL)  # type: ignore[arg-type]
    assert found.job is None and found.problem is not None
    assert found.problem[0] == reason and words in found.problem[1]


def test_missing_secrets_are_waited_for_and_bad_ones_reported_without_their_data() -> None:
    found = inputs(backup(), Secrets(aws={"credentials": CREDENTIALS}))  # type: ignore[arg-type]
    assert found.missing_secrets == ("etcd-addops-client-tls",) and found.job is None

    broken = Secrets(
        aws={"credentials": b"[default]\naws_secret_access_key = s3cr3tkey\n"},
        etcd_addops_client_tls=TLS_FILES,
    )
    found = inputs(backup(), broken)  # type: ignore[arg-type]
    assert found.problem is not None and found.problem[0] == "InvalidAWSSecret"
    assert "s3cr3tkey" not in found.problem[1]

    no_key = Secrets(
        aws={"credentials": CREDENTIALS}, etcd_addops_client_tls={"etcd-client.crt": b"c"}
    )
    found = inputs(backup(), no_key)  # type: ignore[arg-type]
    assert found.problem is not None and found.problem[0] == "InvalidTLSSecret"
    assert "etcd-client.key" in found.problem[1]


def test_the_inputs_version_follows_the_spec_and_the_secrets() -> None:
    one = inputs(backup(metadata__generation=1), ALL).version  # type: ignore[arg-type]
    two = inputs(backup(metadata__generation=2), ALL).version  # type: ignore[arg-type]
    assert one != two
    rotated = Secrets(aws={"credentials": CREDENTIALS}, etcd_addops_client_tls=TLS_FILES)
    rotated.objs["default/aws"]["metadata"]["resourceVersion"] = "8"
    assert inputs(backup(metadata__generation=1), rotated).version != one  # type: ignore[arg-type]


@pytest.fixture
async def silent_endpoint() -> AsyncIterator[Endpoint]:
    """A TCP listener that accepts and never says a word (a wedged member)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield Endpoint(f"127.0.0.1:{port}")
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_the_backup_timeout_is_honoured(silent_endpoint: Endpoint) -> None:
    job = BackupJob(
        endpoints=(silent_endpoint,),
        s3=S3Settings("id", "secret", endpoint="http://127.0.0.1:1"),
        bucket="b",
        key="k",
        periodic=False,
        max_backups=0,
        timeout=0.5,
    )
    started = asyncio.get_running_loop().time()
    outcome = await take_backup(job)
    took = asyncio.get_running_loop().time() - started
    assert isinstance(outcome, BackupFailed) and outcome.reason == "BackupTimeout", outcome
    assert 0.5 <= took < 3


def test_failure_reasons() -> None:
    assert etcd_reason(SnapshotCorrupt("x")) == "SnapshotCorrupt"
    assert etcd_reason(TLSFailure("x")) == "EtcdTLSFailure"
    assert etcd_reason(Unavailable("x")) == "EtcdUnavailable"
    assert s3_reason(S3Error(UNREACHABLE, "x")) == "S3Unreachable"
    assert s3_reason(S3Error("NoSuchBucket", "x")) == "S3BucketNotFound"
    for code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"):
        assert s3_reason(S3Error(code, "x")) == "S3AccessDenied"
    assert s3_reason(S3Error("SlowDown", "x")) == "S3Error"
