"""controller/clients/s3.py and etcdsnapshot.py against the local environment's real S3 server
(versitygw, `make cluster-up`) and real etcd processes: nothing mocked.

Each test works in a bucket of its own, removed afterwards. Uploads use 5 MiB parts (S3's
minimum) so that a few tens of MiB cross several part boundaries.
"""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import tracemalloc
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from controller.clients import s3 as s3_module
from controller.clients.etcd import Endpoint
from controller.clients.etcdsnapshot import choose_source, open_snapshot
from controller.clients.s3 import (
    BAD_SECRET,
    MIB,
    UNREACHABLE,
    S3Client,
    S3Error,
    S3Settings,
    settings_from_files,
)
from tests.etcdproc import LocalEtcd, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
PART = 5 * MIB
CHUNK = 32 * 1024  # what etcd's snapshot stream sends per message


def seed_files(env: dict[str, str], secret: str | None = None) -> dict[str, bytes]:
    """The seed's `aws` Secret files for the local S3 server (what hack/s3-secret.sh writes)."""
    credentials = (
        "[default]\n"
        f"aws_access_key_id = {env['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {secret or env['AWS_SECRET_ACCESS_KEY']}\n"
    )
    config = f"[default]\nregion = {env['AWS_REGION']}\n"
    return {"credentials": credentials.encode(), "config": config.encode()}


@pytest.fixture
def settings(local_env: dict[str, str]) -> S3Settings:
    if "AWS_ENDPOINT_URL_S3" not in local_env:
        pytest.fail("the local S3 server is not set up: run `make cluster-up`")
    return settings_from_files(seed_files(local_env), local_env["AWS_ENDPOINT_URL_S3"], True)


@pytest.fixture
async def s3(settings: S3Settings) -> AsyncIterator[S3Client]:
    async with S3Client(settings, part_size=PART) as client:
        yield client


@pytest.fixture
async def bucket(s3: S3Client) -> AsyncIterator[str]:
    name = f"test-{uuid.uuid4().hex[:12]}"
    await s3.create_bucket(name)
    yield name
    for upload in await s3.pending_uploads(name, ""):
        await s3.abort_upload(name, upload.key, upload.upload_id)
    for obj in await s3.list_objects(name, ""):
        await s3.delete(name, obj.key)
    await s3.delete_bucket(name)


def pattern(size: int) -> Iterator[bytes]:
    """`size` bytes in CHUNK pieces that differ from each other (a shifted part would show)."""
    for offset in range(0, size, CHUNK):
        n = min(CHUNK, size - offset)
        yield (offset.to_bytes(8, "big") * (n // 8 + 1))[:n]


async def test_a_multipart_upload_round_trips_byte_for_byte(s3: S3Client, bucket: str) -> None:
    size = 4 * PART + 12345  # five parts, the last one short
    digest = hashlib.sha256()
    async with await s3.start_upload(bucket, "dir/etcd.backup") as upload:
        for chunk in pattern(size):
            digest.update(chunk)
            await upload.write(chunk)
        await upload.complete()

    assert [(o.key, o.size) for o in await s3.list_objects(bucket, "dir/")] == [
        ("dir/etcd.backup", size)
    ]
    read = hashlib.sha256()
    async for chunk in s3.read(bucket, "dir/etcd.backup"):
        read.update(chunk)
    assert read.hexdigest() == digest.hexdigest()
    assert await s3.pending_uploads(bucket, "") == []
    # Every part carried its CRC32: the store keeps the composite checksum of the five.
    head = await s3._client.head_object(
        Bucket=bucket, Key="dir/etcd.backup", ChecksumMode="ENABLED"
    )
    assert head["ChecksumCRC32"].endswith("-5")


async def test_a_part_damaged_on_the_way_is_refused_and_leaves_nothing(
    s3: S3Client, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bytes that arrive no longer match the CRC32 computed from the part before sending,
    # as when a bit flips between the operator and the store.
    crc32 = zlib.crc32
    monkeypatch.setattr(s3_module.zlib, "crc32", lambda data: crc32(data) ^ 1)
    with pytest.raises(S3Error) as failed:
        async with await s3.start_upload(bucket, "damaged") as upload:
            for chunk in pattern(PART + CHUNK):
                await upload.write(chunk)
            await upload.complete()
    assert failed.value.reason == "BadDigest"
    assert await s3.list_objects(bucket, "") == []
    assert await s3.pending_uploads(bucket, "") == []


async def test_an_upload_holds_about_three_parts_of_memory(s3: S3Client, bucket: str) -> None:
    size = 12 * PART
    tracemalloc.start()
    try:
        async with await s3.start_upload(bucket, "big") as upload:
            for chunk in pattern(size):
                await upload.write(chunk)
            await upload.complete()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (await s3.head(bucket, "big")) is not None
    print(f"peak Python memory while uploading {size / MIB:.0f} MiB: {peak / MIB:.1f} MiB")
    assert peak < 4 * PART, (  # two parts in flight, one filling
        f"{peak / MIB:.1f} MiB for {size / MIB:.0f} MiB in {PART / MIB} MiB parts"
    )


async def test_the_object_appears_only_when_completed(s3: S3Client, bucket: str) -> None:
    async with await s3.start_upload(bucket, "etcd.backup") as upload:
        for chunk in pattern(2 * PART + 1):
            await upload.write(chunk)  # two parts sent by now
        assert await s3.list_objects(bucket, "") == []
        assert await s3.head(bucket, "etcd.backup") is None
        assert [u.key for u in await s3.pending_uploads(bucket, "")] == ["etcd.backup"]
        await upload.complete()
    assert [o.key for o in await s3.list_objects(bucket, "")] == ["etcd.backup"]


async def test_a_failed_or_unfinished_upload_is_aborted_and_leaves_nothing(
    s3: S3Client, bucket: str
) -> None:
    with pytest.raises(RuntimeError):
        async with await s3.start_upload(bucket, "failed") as upload:
            for chunk in pattern(PART + CHUNK):
                await upload.write(chunk)
            raise RuntimeError("the stream broke")
    async with await s3.start_upload(bucket, "never-completed") as upload:
        await upload.write(b"x" * CHUNK)

    part_sent = asyncio.Event()

    async def cancelled_midway() -> None:
        async with await s3.start_upload(bucket, "cancelled") as upload:
            for chunk in pattern(PART + CHUNK):
                await upload.write(chunk)
            part_sent.set()
            await asyncio.Event().wait()  # until cancelled

    task = asyncio.create_task(cancelled_midway())
    async with asyncio.timeout(60):
        await part_sent.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    assert await s3.list_objects(bucket, "") == []
    assert await s3.pending_uploads(bucket, "") == []


async def test_pending_uploads_are_listed_by_prefix_and_can_be_aborted(
    s3: S3Client, bucket: str
) -> None:
    left = await s3.start_upload(bucket, "etcd.backup_v5_2024-01-01-00:00:00")
    await left.write(b"y" * CHUNK)  # buffered only: an upload without parts is pending too
    other = await s3.start_upload(bucket, "other/key")
    pending = await s3.pending_uploads(bucket, "etcd.backup_v")
    assert [(u.key, u.upload_id) for u in pending] == [(left.key, left.upload_id)]
    await s3.abort_upload(bucket, left.key, left.upload_id)
    await s3.abort_upload(bucket, left.key, left.upload_id)  # gone already: fine
    assert [u.key for u in await s3.pending_uploads(bucket, "")] == ["other/key"]
    await other.abort()


async def test_list_and_delete_for_retention(s3: S3Client, bucket: str) -> None:
    for key in ("k_v9_a", "k_v10_b", "kk_v1_c", "other"):
        await s3.put(bucket, key, key.encode())
    assert sorted(o.key for o in await s3.list_objects(bucket, "k_v")) == ["k_v10_b", "k_v9_a"]
    await s3.delete(bucket, "k_v9_a")
    await s3.delete(bucket, "k_v9_a")  # S3 deletes are idempotent
    assert sorted(o.key for o in await s3.list_objects(bucket, "")) == [
        "k_v10_b",
        "kk_v1_c",
        "other",
    ]


async def test_failures_carry_a_reason_and_never_the_credentials(
    local_env: dict[str, str], settings: S3Settings, bucket: str
) -> None:
    endpoint = local_env["AWS_ENDPOINT_URL_S3"]
    wrong_secret = "wrong" + settings.secret_access_key[5:]
    unknown_key = S3Settings(
        "nobody" + settings.access_key_id, "whatever-secret", endpoint=endpoint
    )
    cases = [
        (settings, "no-such-bucket-here", {"NoSuchBucket"}),
        (
            settings_from_files(seed_files(local_env, wrong_secret), endpoint, True),
            bucket,
            {"SignatureDoesNotMatch"},
        ),
        # AWS says InvalidAccessKeyId; versitygw its own code.
        (unknown_key, bucket, {"InvalidAccessKeyId", "XAdminUserNotFound"}),
        (
            S3Settings(
                settings.access_key_id,
                settings.secret_access_key,
                endpoint=f"http://{local_env['CLUSTER_GATEWAY']}:{free_port()}",
            ),
            bucket,
            {UNREACHABLE},
        ),
    ]
    for case_settings, case_bucket, reasons in cases:
        async with S3Client(case_settings) as client:
            with pytest.raises(S3Error) as err:
                await client.list_objects(case_bucket, "")
        text = str(err.value)
        assert err.value.reason in reasons, text
        for secret in (case_settings.secret_access_key, case_settings.access_key_id):
            assert secret not in text


def test_settings_come_from_the_seed_secret_files(local_env: dict[str, str]) -> None:
    files = seed_files(local_env)
    s = settings_from_files(files, "http://s3.example:9000", True)
    assert (s.access_key_id, s.secret_access_key) == (
        local_env["AWS_ACCESS_KEY_ID"],
        local_env["AWS_SECRET_ACCESS_KEY"],
    )
    assert (s.region, s.endpoint, s.force_path_style) == (
        local_env["AWS_REGION"],
        "http://s3.example:9000",
        True,
    )
    assert local_env["AWS_SECRET_ACCESS_KEY"] not in repr(s)

    no_region = settings_from_files({"credentials": files["credentials"]}, None, False)
    assert (no_region.region, no_region.endpoint) == ("us-east-1", None)
    profile_form = {**files, "config": b"[profile default]\nregion = eu-west-3\n"}
    assert settings_from_files(profile_form, None, False).region == "eu-west-3"

    secret = local_env["AWS_SECRET_ACCESS_KEY"]
    broken = [
        {"config": files["config"]},
        {"credentials": b"[other]\naws_access_key_id = a\naws_secret_access_key = b\n"},
        {"credentials": f"aws_secret_access_key = {secret}\n".encode()},  # no section
        {"credentials": b"[default]\naws_access_key_id = only-the-id\n"},
    ]
    for files_ in broken:
        with pytest.raises(S3Error) as err:
            settings_from_files(files_, None, False)
        assert err.value.reason == BAD_SECRET and secret not in str(err.value)


async def test_an_etcd_snapshot_streamed_to_s3_is_one_etcdutl_accepts(
    s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    etcd = LocalEtcd("3.6", tmp_path)
    try:
        (member,) = etcd.cluster(1)
        for i in range(50):
            etcdctl(member.client_url, "put", f"/k/{i}", "v" * 2000)
        source = await choose_source([member.endpoint, Endpoint("127.0.0.1:1")], None)
        assert source.endpoint == member.endpoint and source.revision == 51
        assert source.version.startswith("3.6.")

        async with open_snapshot(source.endpoint, None) as stream:
            async with await s3.start_upload(bucket, "etcd.backup") as upload:
                async for chunk in stream:
                    await upload.write(chunk)
                assert stream.verified
                await upload.complete()
    finally:
        etcd.stop_all()

    assert (await s3.head(bucket, "etcd.backup")).size == stream.size  # type: ignore[union-attr]
    saved = tmp_path / "from-s3.db"
    with saved.open("wb") as out:
        async for chunk in s3.read(bucket, "etcd.backup"):
            out.write(chunk)
    restored = tmp_path / "restored"
    # etcdutl checks the SHA-256 trailer unless told not to.
    etcdutl("snapshot", "restore", str(saved), "--data-dir", str(restored))
    status = etcdutl("snapshot", "status", str(saved), "-w", "json")
    assert '"revision":51' in status.replace(" ", "")


def etcdctl(url: str, *args: str) -> str:
    binary = Path(__file__).resolve().parents[2] / ".local/bin/etcd-3.6/etcdctl"
    return subprocess.run(
        [str(binary), f"--endpoints={url}", *args], check=True, capture_output=True, text=True
    ).stdout


def etcdutl(*args: str) -> str:
    binary = Path(__file__).resolve().parents[2] / ".local/bin/etcd-3.6/etcdutl"
    return subprocess.run([str(binary), *args], check=True, capture_output=True, text=True).stdout
