"""Verification of the backup object, run as a supervised task (controller.runtime.tasks),
never on a queue worker: the object is streamed from S3 in 1 MiB pieces through the SHA-256
trailer check (controller.clients.snapshotstream), so memory stays at about one piece
whatever the object's size, and nothing is written anywhere.

Failures are returned as VerifyFailed with a reason, never raised; cancellation (lost
leadership, a deleted EtcdRestore) propagates. `s3_reason` is shared with the fetch program,
so the operator and the seed member's init container name the same failure alike.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from controller.clients.s3 import UNREACHABLE, S3Client, S3Error, S3Settings
from controller.clients.snapshotstream import TrailerCheck
from controller.etcdrestore.outcome import BackupVerified, Outcome, VerifyFailed
from controller.etcdrestore.reasons import (
    BACKUP_CORRUPT,
    BACKUP_NOT_FOUND,
    NO_SUCH_BUCKET,
    S3_ACCESS_DENIED,
    S3_ERROR,
    S3_UNREACHABLE,
)

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024
NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})
ACCESS_DENIED = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "XAdminUserNotFound",
     "InvalidToken", "ExpiredToken", "InvalidClientTokenId", "403"}
)  # fmt: skip


@dataclass(frozen=True)
class VerifyJob:
    """What one verification needs, read from the spec and its Secret when it starts."""

    s3: S3Settings  # its repr hides the credentials
    bucket: str
    key: str
    generation: int | None

    @property
    def source(self) -> str:
        return source_url(self.bucket, self.key)


def source_url(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


async def verify_backup(job: VerifyJob) -> Outcome:
    started = time.monotonic()
    check = TrailerCheck()
    try:
        async with S3Client(job.s3) as s3:
            async for chunk in s3.read(job.bucket, job.key, CHUNK):
                check.feed(chunk)
    except S3Error as exc:
        return VerifyFailed(s3_reason(exc), str(exc), job.generation)
    seconds = time.monotonic() - started
    if not check.verified:
        message = corrupt(job.source, check)
        return VerifyFailed(BACKUP_CORRUPT, message, job.generation, terminal=True)
    log.info("backup verified", extra={"object": job.source, "bytes": check.size})
    return BackupVerified(job.bucket, job.key, check.size, seconds, job.generation)


def corrupt(source: str, check: TrailerCheck) -> str:
    """The BackupCorrupt message of an object that ended without a matching trailer."""
    return f"{source} is not a whole snapshot: {check.problem()}"


def s3_reason(exc: S3Error) -> str:
    """The restore's reason for an S3 failure (S3's own code is in the message)."""
    if exc.reason == UNREACHABLE:
        return S3_UNREACHABLE
    if exc.reason in NOT_FOUND:
        return BACKUP_NOT_FOUND
    if exc.reason == "NoSuchBucket":
        return NO_SUCH_BUCKET
    if exc.reason in ACCESS_DENIED:
        return S3_ACCESS_DENIED
    return S3_ERROR
