"""The backup itself, run as a supervised task (controller.runtime.tasks), never on a queue
worker: snapshot the most up-to-date endpoint, stream it through the SHA-256 check into an
S3 multipart upload, complete the upload only once the stream verified, check the stored
size, then apply retention. Memory stays at about two upload parts whatever the size.

A failed, cut-off or corrupt backup aborts its upload, so S3 shows no object for it; an
upload left behind by a process that died mid-way (invisible as an object, but holding
storage) is aborted by the next backup of the same key. The whole backup is bounded by
`timeoutInSecond` (DEFAULT_TIMEOUT when 0). Failures are returned as BackupFailed with a
reason, never raised; cancellation (lost leadership, a deleted EtcdBackup) propagates.
Fault point (controller.runtime.faults): backup-mid-upload, once the first part is stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from controller.clients.etcd import (
    Endpoint,
    EtcdClientError,
    TLSFailure,
    TLSMaterial,
    Unavailable,
)
from controller.clients.etcdsnapshot import SnapshotCorrupt, choose_source, open_snapshot
from controller.clients.s3 import UNREACHABLE, MultipartUpload, S3Client, S3Error, S3Settings
from controller.etcdbackup.naming import is_ours, periodic_name, periodic_prefix, to_prune
from controller.etcdbackup.outcome import BackupFailed, BackupTaken, Outcome, Pruned
from controller.runtime.faults import fault_point

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT = 600.0
ACCESS_DENIED = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "XAdminUserNotFound",
     "InvalidToken", "ExpiredToken", "InvalidClientTokenId"}
)  # fmt: skip


@dataclass(frozen=True)
class BackupJob:
    """Everything one backup needs, read from the spec and its Secrets when it starts."""

    endpoints: tuple[Endpoint, ...]
    s3: S3Settings
    bucket: str
    key: str
    periodic: bool
    max_backups: int
    timeout: float
    tls: TLSMaterial | None = field(default=None, repr=False)

    @property
    def prefix(self) -> str:
        """The S3 list prefix of every object this backup writes."""
        return periodic_prefix(self.key) if self.periodic else self.key


async def take_backup(job: BackupJob) -> Outcome:
    started = time.monotonic()
    try:
        async with asyncio.timeout(job.timeout):
            return await _take(job, started)
    except TimeoutError:
        return BackupFailed("BackupTimeout", f"the backup did not finish within {job.timeout:g}s")
    except EtcdClientError as exc:
        return BackupFailed(etcd_reason(exc), str(exc))
    except S3Error as exc:
        return BackupFailed(s3_reason(exc), str(exc))


async def _take(job: BackupJob, started: float) -> Outcome:
    source = await choose_source(job.endpoints, job.tls)
    taken = datetime.now(UTC)
    name = periodic_name(job.key, source.revision, taken) if job.periodic else job.key
    log.info(
        "backup started",
        extra={"endpoint": source.endpoint.address, "revision": source.revision, "object": name},
    )
    mid_upload = False
    async with S3Client(job.s3) as s3:
        async with await s3.start_upload(job.bucket, name) as upload:
            await abort_left_behind(s3, job, upload)
            async with open_snapshot(source.endpoint, job.tls) as stream:
                async for chunk in stream:
                    await upload.write(chunk)
                    if upload.parts_uploaded == 1 and not mid_upload:
                        mid_upload = True  # a part is stored, the object is not
                        fault_point("backup-mid-upload")
            if not stream.verified:  # the stream raises rather than end unverified
                raise SnapshotCorrupt(f"{source.endpoint.address}: snapshot not verified")
            await upload.complete()
        stored = await s3.head(job.bucket, name)
        if stored is None or stored.size != stream.size:
            got = "nothing" if stored is None else f"{stored.size} bytes"
            await s3.delete(job.bucket, name)
            return BackupFailed("S3SizeMismatch", f"{name}: sent {stream.size} bytes, {got} stored")
        pruned = await prune(s3, job, keep=name) if job.periodic else Pruned()
    return BackupTaken(
        bucket=job.bucket,
        name=name,
        size=stream.size,
        revision=source.revision,
        etcd_version=source.version,
        endpoint=source.endpoint.address,
        taken=taken,
        seconds=time.monotonic() - started,
        pruned=pruned.pruned,
        prune_error=pruned.error,
    )


async def take_retention(job: BackupJob) -> Outcome:
    """A retention pass alone (after one failed behind a good backup)."""
    try:
        async with asyncio.timeout(job.timeout), S3Client(job.s3) as s3:
            return await prune(s3, job)
    except TimeoutError:
        return Pruned(error=f"retention did not finish within {job.timeout:g}s")
    except S3Error as exc:
        return Pruned(error=str(exc))


async def prune(s3: S3Client, job: BackupJob, keep: str | None = None) -> Pruned:
    """Deletes this backup's periodic objects beyond the newest maxBackups (by revision,
    then time), never `keep` (the object just written)."""
    if job.max_backups <= 0:
        return Pruned()
    deleted: list[str] = []
    try:
        names = [o.key for o in await s3.list_objects(job.bucket, job.prefix) if o.key != keep]
        for name in to_prune(job.key, names, job.max_backups - (keep is not None)):
            await s3.delete(job.bucket, name)
            deleted.append(name)
    except S3Error as exc:
        return Pruned(tuple(deleted), f"retention: {exc}")
    return Pruned(tuple(deleted))


async def abort_left_behind(s3: S3Client, job: BackupJob, current: MultipartUpload) -> None:
    """Aborts incomplete uploads of this backup's names begun before `current` (by the
    store's clock): what a process that died mid-backup left. Best effort."""
    try:
        uploads = await s3.pending_uploads(job.bucket, job.prefix)
        mine = next((u for u in uploads if u.upload_id == current.upload_id), None)
        if mine is None:
            return
        for u in uploads:
            stale = u.upload_id != mine.upload_id and u.initiated <= mine.initiated
            if stale and is_ours(job.key, u.key, job.periodic):
                await s3.abort_upload(job.bucket, u.key, u.upload_id)
                log.info("aborted an upload left behind", extra={"object": u.key})
    except S3Error as exc:
        log.warning("could not clean up uploads left behind: %s", exc)


def etcd_reason(exc: EtcdClientError) -> str:
    if isinstance(exc, SnapshotCorrupt):
        return "SnapshotCorrupt"
    if isinstance(exc, TLSFailure):
        return "EtcdTLSFailure"
    if isinstance(exc, Unavailable):
        return "EtcdUnavailable"
    return "EtcdError"


def s3_reason(exc: S3Error) -> str:
    if exc.reason == UNREACHABLE:
        return "S3Unreachable"
    if exc.reason == "NoSuchBucket":
        return "S3BucketNotFound"
    if exc.reason in ACCESS_DENIED:
        return "S3AccessDenied"
    return "S3Error"
