"""The restore's verification (controller/etcdrestore/task.py) and its fetch program
(controller/etcdrestore/fetch.py, run as a subprocess exactly as the seed pod's init container
runs it) against the local environment's real S3 server and a real etcd snapshot: nothing
mocked.

Each test works in a bucket of its own, removed afterwards.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.clients.s3 import MIB, S3Client, S3Settings, settings_from_files
from controller.etcdrestore.fetch import partial_path
from controller.etcdrestore.outcome import BackupVerified, VerifyFailed
from controller.etcdrestore.task import VerifyJob, verify_backup
from tests.etcdproc import LocalEtcd, free_port
from tests.integration.test_s3_client import etcdctl, etcdutl, seed_files

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
ROOT = Path(__file__).resolve().parents[2]
PART = 5 * MIB
PAYLOAD = b"not an etcd database, but a stream with a SHA-256 trailer " * 2000
GOOD = PAYLOAD + hashlib.sha256(PAYLOAD).digest()
FLIPPED = GOOD[:1000] + bytes([GOOD[1000] ^ 0x01]) + GOOD[1001:]


@pytest.fixture
def endpoint(local_env: dict[str, str]) -> str:
    if "AWS_ENDPOINT_URL_S3" not in local_env:
        pytest.fail("the local S3 server is not set up: run `make cluster-up`")
    return local_env["AWS_ENDPOINT_URL_S3"]


@pytest.fixture
def settings(local_env: dict[str, str], endpoint: str) -> S3Settings:
    return settings_from_files(seed_files(local_env), endpoint, True)


@pytest.fixture
async def s3(settings: S3Settings) -> AsyncIterator[S3Client]:
    async with S3Client(settings, part_size=PART) as client:
        yield client


@pytest.fixture
async def bucket(s3: S3Client) -> AsyncIterator[str]:
    name = f"test-restore-{uuid.uuid4().hex[:12]}"
    await s3.create_bucket(name)
    yield name
    for upload in await s3.pending_uploads(name, ""):
        await s3.abort_upload(name, upload.key, upload.upload_id)
    for obj in await s3.list_objects(name, ""):
        await s3.delete(name, obj.key)
    await s3.delete_bucket(name)


@pytest.fixture
def aws_dir(local_env: dict[str, str], tmp_path: Path) -> Path:
    """The awsSecret as the seed pod mounts it: the files credentials and config."""
    d = tmp_path / "aws"
    d.mkdir()
    for name, data in seed_files(local_env).items():
        (d / name).write_bytes(data)
    return d


def job(settings: S3Settings, bucket: str, key: str) -> VerifyJob:
    return VerifyJob(s3=settings, bucket=bucket, key=key, generation=4)


# --- verification ------------------------------------------------------------------------------
async def test_a_real_etcd_snapshot_verifies(
    s3: S3Client, bucket: str, settings: S3Settings, tmp_path: Path
) -> None:
    etcd = LocalEtcd("3.6", tmp_path)
    try:
        (member,) = etcd.cluster(1)
        for i in range(20):
            etcdctl(member.client_url, "put", f"/k/{i}", "v" * 1000)
        saved = tmp_path / "saved.db"
        etcdctl(member.client_url, "snapshot", "save", str(saved))
    finally:
        etcd.stop_all()
    data = saved.read_bytes()
    await s3.put(bucket, "etcd.backup", data)
    outcome = await verify_backup(job(settings, bucket, "etcd.backup"))
    assert isinstance(outcome, BackupVerified), outcome
    assert (outcome.bucket, outcome.key, outcome.size, outcome.generation) == (
        bucket,
        "etcd.backup",
        len(data),
        4,
    )


async def test_payload_with_its_sha256_verifies_and_a_flipped_byte_does_not(
    s3: S3Client, bucket: str, settings: S3Settings
) -> None:
    await s3.put(bucket, "dir/good", GOOD)
    await s3.put(bucket, "dir/corrupt", FLIPPED)
    await s3.put(bucket, "dir/cut", GOOD[:-100])
    await s3.put(bucket, "dir/tiny", b"0123456789")
    await s3.put(bucket, "dir/empty", b"")
    assert isinstance(await verify_backup(job(settings, bucket, "dir/good")), BackupVerified)
    for key, words in [
        ("dir/corrupt", f"are not the SHA-256 of the {len(PAYLOAD)} bytes before them"),
        ("dir/cut", "are not the SHA-256"),
        ("dir/tiny", "10 bytes is too short"),
        ("dir/empty", "0 bytes is too short"),
    ]:
        outcome = await verify_backup(job(settings, bucket, key))
        assert isinstance(outcome, VerifyFailed) and outcome.terminal, (key, outcome)
        assert outcome.reason == "BackupCorrupt" and outcome.generation == 4
        assert outcome.message.startswith(f"s3://{bucket}/{key} is not a whole snapshot: ")
        assert words in outcome.message


async def test_what_is_missing_unreachable_or_refused_is_retried_with_its_reason(
    local_env: dict[str, str], endpoint: str, s3: S3Client, bucket: str, settings: S3Settings
) -> None:
    await s3.put(bucket, "etcd.backup", GOOD)
    wrong = settings_from_files(
        seed_files(local_env, "wrong" + settings.secret_access_key[5:]), endpoint, True
    )
    unknown = S3Settings("nobody" + settings.access_key_id, "whatever-secret", endpoint=endpoint)
    closed = f"http://{local_env['CLUSTER_GATEWAY']}:{free_port()}"
    cases = [
        (settings, bucket, "no-such-key", "BackupNotFound"),
        (settings, f"no-such-bucket-{uuid.uuid4().hex[:8]}", "etcd.backup", "NoSuchBucket"),
        (wrong, bucket, "etcd.backup", "S3AccessDenied"),
        (unknown, bucket, "etcd.backup", "S3AccessDenied"),
        (S3Settings(settings.access_key_id, settings.secret_access_key, endpoint=closed),
         bucket, "etcd.backup", "S3Unreachable"),
    ]  # fmt: skip
    for case_settings, case_bucket, key, reason in cases:
        outcome = await verify_backup(job(case_settings, case_bucket, key))
        assert isinstance(outcome, VerifyFailed) and not outcome.terminal, (reason, outcome)
        assert outcome.reason == reason, outcome
        for secret in (case_settings.secret_access_key, settings.secret_access_key):
            assert secret not in outcome.message


async def test_verification_memory_is_bounded_whatever_the_size(
    s3: S3Client, bucket: str, settings: S3Settings
) -> None:
    size = 6 * PART
    digest = hashlib.sha256()
    async with await s3.start_upload(bucket, "big") as upload:
        for i in range(size // MIB):
            chunk = i.to_bytes(8, "big") * (MIB // 8)
            digest.update(chunk)
            await upload.write(chunk)
        await upload.write(digest.digest())
        await upload.complete()
    tracemalloc.start()
    try:
        outcome = await verify_backup(job(settings, bucket, "big"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(outcome, BackupVerified) and outcome.size == size + 32
    print(f"peak Python memory verifying {size / MIB:.0f} MiB: {peak / MIB:.1f} MiB")
    assert peak < 4 * MIB, f"{peak / MIB:.1f} MiB to verify {size / MIB:.0f} MiB"


# --- the fetch program -------------------------------------------------------------------------
def run_fetch(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # only the files
    return subprocess.run(
        [sys.executable, "-m", "controller.etcdrestore.fetch", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_fetch_writes_a_verified_file_and_keeps_it(
    s3: S3Client, bucket: str, endpoint: str, aws_dir: Path, tmp_path: Path
) -> None:
    await s3.put(bucket, "dir/etcd.backup_v2_2019-10-11-08:53:40", GOOD)
    out = tmp_path / "restore" / "snapshot.db"
    args = ["--path", f"{bucket}/dir/etcd.backup_v2_2019-10-11-08:53:40"]
    args += ["--aws-dir", str(aws_dir), "--out", str(out), "--endpoint", endpoint]
    args += ["--force-path-style"]
    proc = run_fetch(*args)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == GOOD and not partial_path(out).exists()
    assert proc.stderr == ""
    assert proc.stdout.strip() == (
        f"fetched s3://{bucket}/dir/etcd.backup_v2_2019-10-11-08:53:40 to {out}: "
        f"{len(GOOD)} bytes, SHA-256 verified"
    )
    # A restarted init container: the file is there and verifies, nothing is downloaded (the
    # object is gone now, and the answer is still yes).
    await s3.delete(bucket, "dir/etcd.backup_v2_2019-10-11-08:53:40")
    again = run_fetch(*args)
    assert again.returncode == 0 and "is already" in again.stdout, again.stderr
    assert out.read_bytes() == GOOD


async def test_fetch_of_a_real_snapshot_is_one_etcdutl_restores(
    s3: S3Client, bucket: str, endpoint: str, aws_dir: Path, tmp_path: Path
) -> None:
    etcd = LocalEtcd("3.6", tmp_path)
    try:
        (member,) = etcd.cluster(1)
        for i in range(30):
            etcdctl(member.client_url, "put", f"/k/{i}", f"v{i}")
        saved = tmp_path / "saved.db"
        etcdctl(member.client_url, "snapshot", "save", str(saved))
    finally:
        etcd.stop_all()
    await s3.put(bucket, "etcd.backup", saved.read_bytes())
    out = tmp_path / "fetched.db"
    proc = run_fetch(
        "--path", f"{bucket}/etcd.backup", "--aws-dir", str(aws_dir), "--out", str(out),
        "--endpoint", endpoint, "--force-path-style",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    etcdutl("snapshot", "restore", str(out), "--data-dir", str(tmp_path / "restored"))
    assert '"revision":31' in etcdutl("snapshot", "status", str(out), "-w", "json").replace(" ", "")


@pytest.mark.parametrize(
    ("key", "reason"),
    [("corrupt", "BackupCorrupt"), ("missing", "BackupNotFound"), ("cut", "BackupCorrupt")],
)
async def test_fetch_failures_leave_no_file_and_say_why_in_one_line(
    s3: S3Client, bucket: str, endpoint: str, aws_dir: Path, tmp_path: Path, key: str, reason: str
) -> None:
    await s3.put(bucket, "corrupt", FLIPPED)
    await s3.put(bucket, "cut", GOOD[: len(GOOD) // 2])
    out = tmp_path / "snapshot.db"
    proc = run_fetch(
        "--path", f"{bucket}/{key}", "--aws-dir", str(aws_dir), "--out", str(out),
        "--endpoint", endpoint, "--force-path-style",
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"fetch: {reason}: ")
    assert f"{bucket}/{key}" in proc.stderr
    assert not out.exists() and not partial_path(out).exists()


async def test_fetch_with_bad_credentials_or_no_bucket_never_shows_the_secret(
    local_env: dict[str, str], settings: S3Settings, bucket: str, endpoint: str, tmp_path: Path
) -> None:
    wrong_secret = "wrong" + settings.secret_access_key[5:]
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    for name, data in seed_files(local_env, wrong_secret).items():
        (wrong / name).write_bytes(data)
    right = tmp_path / "right"
    right.mkdir()
    for name, data in seed_files(local_env).items():
        (right / name).write_bytes(data)
    out = tmp_path / "snapshot.db"
    closed = f"http://{local_env['CLUSTER_GATEWAY']}:{free_port()}"
    for aws, path, url, reason in [
        (wrong, f"{bucket}/etcd.backup", endpoint, "S3AccessDenied"),
        (right, f"no-such-bucket-{uuid.uuid4().hex[:8]}/etcd.backup", endpoint, "NoSuchBucket"),
        (right, f"{bucket}/etcd.backup", closed, "S3Unreachable"),
    ]:
        proc = run_fetch(
            "--path", path, "--aws-dir", str(aws), "--out", str(out), "--endpoint", url,
            "--force-path-style",
        )  # fmt: skip
        assert proc.returncode == 1, proc.stdout
        assert proc.stderr.startswith(f"fetch: {reason}: ") and proc.stderr.count("\n") == 1
        for secret in (wrong_secret, settings.secret_access_key, settings.access_key_id):
            assert secret not in proc.stderr + proc.stdout
        assert not out.exists() and not partial_path(out).exists()
