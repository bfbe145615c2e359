"""S3 (and S3-compatible stores) for backups: the one module that imports aiobotocore.

Settings come as the seed's `aws` Secret holds them — the AWS shared files `credentials` and
`config`, profile `default` — plus the CR's endpoint and forcePathStyle. Uploads are multipart
from an async byte stream with bounded memory: two parts uploading while the next one fills,
so a snapshot of any size costs about three parts of memory. Every part carries its CRC32,
which the store checks (BadDigest on a mismatch): a part damaged on the way is refused, not
stored; the payload itself is not hashed for SigV4 (see S3Client). An upload becomes an object
only when the caller completes it (S3 shows no object for an incomplete multipart upload), which it
does only after the stream proved whole; any failure, cancellation included, aborts it.

Failures are S3Error with a short `reason` (the S3 error code, or S3Unreachable), and no
message ever carries the credentials.
"""

from __future__ import annotations

import asyncio
import base64
import configparser
import contextlib
import io
import logging
import zlib
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

log = logging.getLogger(__name__)
# At DEBUG botocore logs every request with its Authorization header, which names the access
# key: never that, whatever level the operator runs at.
for _library in ("botocore", "aiobotocore"):
    logging.getLogger(_library).setLevel(logging.INFO)

MIB = 1024 * 1024
PART_SIZE = 8 * MIB  # S3 wants >= 5 MiB for every part but the last
PARTS_IN_FLIGHT = 2  # one part's request and response overlap the other's transfer
PART_CHECKSUM = "CRC32"  # declared when the upload starts, as S3 wants for part checksums
DEFAULT_REGION = "us-east-1"
PROFILE = "default"
ABORT_TIMEOUT = 10.0
UNREACHABLE = "S3Unreachable"
BAD_SECRET = "InvalidAWSSecret"
MIN_REDACTED = 6  # shorter "credentials" protect nothing, and replacing them garbles messages


class S3Error(Exception):
    """A failed S3 request; `reason` is S3's error code (NoSuchBucket, InvalidAccessKeyId,
    SignatureDoesNotMatch, ...) or S3Unreachable when no answer came."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class S3Settings:
    """Where the store is and who we are there; the secrets never show in a repr."""

    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    region: str = DEFAULT_REGION
    endpoint: str | None = None
    force_path_style: bool = False

    def redact(self, text: str) -> str:
        """`text` with every credential replaced (error messages may echo them)."""
        for secret in (self.secret_access_key, self.session_token, self.access_key_id):
            if secret and len(secret) >= MIN_REDACTED:
                text = text.replace(secret, "***")
        return text


def settings_from_files(
    files: Mapping[str, bytes], endpoint: str | None, force_path_style: bool
) -> S3Settings:
    """Settings from the Secret's `credentials` and `config` files (profile default)."""
    creds = _profile(files, "credentials", PROFILE)
    config = _profile(files, "config", PROFILE) if "config" in files else {}
    if "config" in files and not config:
        config = _profile(files, "config", f"profile {PROFILE}")
    key_id, secret = creds.get("aws_access_key_id"), creds.get("aws_secret_access_key")
    if not key_id or not secret:
        raise S3Error(BAD_SECRET, "credentials: aws_access_key_id or aws_secret_access_key missing")
    return S3Settings(
        access_key_id=key_id,
        secret_access_key=secret,
        session_token=creds.get("aws_session_token"),
        region=config.get("region") or DEFAULT_REGION,
        endpoint=endpoint or None,
        force_path_style=force_path_style,
    )


def _profile(files: Mapping[str, bytes], name: str, section: str) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(files[name].decode())
    except KeyError:
        raise S3Error(BAD_SECRET, f"the Secret has no file {name!r}") from None
    except (UnicodeDecodeError, configparser.Error) as exc:
        # The parser's message quotes the offending line, which may hold a key: not shown.
        raise S3Error(
            BAD_SECRET, f"{name}: not an AWS shared file ({type(exc).__name__})"
        ) from None
    if name == "credentials" and not parser.has_section(section):
        raise S3Error(BAD_SECRET, f"credentials: no [{section}] profile")
    return dict(parser[section]) if parser.has_section(section) else {}


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime


@dataclass(frozen=True)
class PendingUpload:
    """A multipart upload begun and neither completed nor aborted (invisible as an object)."""

    key: str
    upload_id: str
    initiated: datetime


_session: AioSession | None = None


def shared_session() -> AioSession:
    """One botocore session per process: a session loads S3's service model (about 10 MiB of
    Python objects, a third of a second) for its first client and keeps it for the next."""
    global _session
    if _session is None:
        _session = AioSession()
    return _session


class S3Client:
    """`async with S3Client(settings) as s3: ...` — one connection pool per use."""

    def __init__(self, settings: S3Settings, part_size: int = PART_SIZE):
        self.settings = settings
        self.part_size = part_size
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None

    async def __aenter__(self) -> S3Client:
        s = self.settings
        config = AioConfig(
            s3={
                "addressing_style": "path" if s.force_path_style else "auto",
                # SigV4 still signs every request's headers; hashing every payload too
                # (botocore's default over http) cost as much CPU here as the upload
                # itself, on both ends. A part's integrity comes from its CRC32 instead
                # (MultipartUpload), as the AWS SDKs now do by default.
                "payload_signing_enabled": False,
            },
            connect_timeout=5,
            read_timeout=60,
            retries={"mode": "standard", "total_max_attempts": 3},
            # No automatic checksums: botocore's newer default sends them as an aws-chunked
            # trailer, which not every S3-compatible store understands. Upload parts carry
            # a plain x-amz-checksum-crc32 header instead (MultipartUpload).
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._client = await self._stack.enter_async_context(
            shared_session().create_client(
                "s3",
                region_name=s.region,
                endpoint_url=s.endpoint,
                aws_access_key_id=s.access_key_id,
                aws_secret_access_key=s.secret_access_key,
                aws_session_token=s.session_token,
                config=config,
            )
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turns botocore's and aiohttp's failures into S3Error, credentials redacted."""
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error") or {}
            status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            code = str(error.get("Code") or status or "S3Error")
            text = error.get("Message") or ""
            raise S3Error(code, self.settings.redact(f"{what}: {code} {text}".strip())) from None
        except (ConnectionError, HTTPClientError, aiohttp.ClientError, TimeoutError) as exc:
            message = self.settings.redact(f"{what}: no answer from the S3 endpoint ({exc})")
            raise S3Error(UNREACHABLE, message) from None
        except BotoCoreError as exc:
            reason = type(exc).__name__
            raise S3Error(reason, self.settings.redact(f"{what}: {exc}")) from None

    # --- buckets and objects ---------------------------------------------------------------
    async def create_bucket(self, bucket: str) -> None:
        """Creates `bucket`; one that is already ours is fine."""
        try:
            with self._errors(f"create bucket {bucket}"):
                await self._client.create_bucket(Bucket=bucket)
        except S3Error as exc:
            if exc.reason != "BucketAlreadyOwnedByYou":
                raise

    async def delete_bucket(self, bucket: str) -> None:
        """Deletes an empty bucket."""
        with self._errors(f"delete bucket {bucket}"):
            await self._client.delete_bucket(Bucket=bucket)

    async def head(self, bucket: str, key: str) -> ObjectInfo | None:
        try:
            with self._errors(f"head {bucket}/{key}"):
                resp = await self._client.head_object(Bucket=bucket, Key=key)
        except S3Error as exc:
            if exc.reason in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectInfo(key, int(resp["ContentLength"]), resp["LastModified"])

    async def list_objects(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        """Every object under `prefix` (all pages)."""
        out = []
        with self._errors(f"list {bucket}/{prefix}*"):
            pages = self._client.get_paginator("list_objects_v2")
            async for page in pages.paginate(Bucket=bucket, Prefix=prefix):
                out += [
                    ObjectInfo(o["Key"], int(o["Size"]), o["LastModified"])
                    for o in page.get("Contents") or []
                ]
        return out

    async def delete(self, bucket: str, key: str) -> None:
        with self._errors(f"delete {bucket}/{key}"):
            await self._client.delete_object(Bucket=bucket, Key=key)

    async def put(self, bucket: str, key: str, body: bytes) -> None:
        """A small object in one request (tests, markers)."""
        with self._errors(f"put {bucket}/{key}"):
            await self._client.put_object(Bucket=bucket, Key=key, Body=body)

    async def read(self, bucket: str, key: str, chunk_size: int = MIB) -> AsyncIterator[bytes]:
        """The object's bytes as they arrive (a restore streams a backup this way)."""
        with self._errors(f"get {bucket}/{key}"):
            resp = await self._client.get_object(Bucket=bucket, Key=key)
            async with resp["Body"] as body:
                async for chunk in body.iter_chunks(chunk_size):
                    yield chunk

    # --- multipart uploads -----------------------------------------------------------------
    async def start_upload(self, bucket: str, key: str) -> MultipartUpload:
        with self._errors(f"start upload {bucket}/{key}"):
            resp = await self._client.create_multipart_upload(
                Bucket=bucket, Key=key, ChecksumAlgorithm=PART_CHECKSUM
            )
        return MultipartUpload(self, bucket, key, resp["UploadId"])

    async def pending_uploads(self, bucket: str, prefix: str) -> list[PendingUpload]:
        out = []
        with self._errors(f"list uploads {bucket}/{prefix}*"):
            pages = self._client.get_paginator("list_multipart_uploads")
            async for page in pages.paginate(Bucket=bucket, Prefix=prefix):
                out += [
                    PendingUpload(u["Key"], u["UploadId"], u["Initiated"])
                    for u in page.get("Uploads") or []
                ]
        return out

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        try:
            with self._errors(f"abort upload of {bucket}/{key}"):
                await self._client.abort_multipart_upload(
                    Bucket=bucket, Key=key, UploadId=upload_id
                )
        except S3Error as exc:
            if exc.reason != "NoSuchUpload":  # already gone: what abort wants
                raise


class MultipartUpload:
    """`async with await s3.start_upload(b, k) as up: await up.write(...); await up.complete()`

    Leaving the block without `complete()` (an exception, a cancellation, or simply not
    calling it) aborts the upload, so no object appears."""

    def __init__(self, s3: S3Client, bucket: str, key: str, upload_id: str):
        self.s3, self.bucket, self.key, self.upload_id = s3, bucket, key, upload_id
        self.size = 0  # bytes written so far
        self.completed = False
        self._buffer: io.BytesIO | None = None  # the part filling, made on its first byte
        self._parts: list[dict[str, Any]] = []
        self._in_flight: deque[asyncio.Task[None]] = deque()  # oldest first
        self.parts_uploaded = 0  # parts the store has acknowledged

    async def __aenter__(self) -> MultipartUpload:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.completed:
            await self.abort()

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._buffer is None:
                self._buffer = part_buffer(self.s3.part_size)
            room = self.s3.part_size - self._buffer.tell()
            self._buffer.write(view[:room])
            self.size += min(room, len(view))
            view = view[room:]
            if self._buffer.tell() == self.s3.part_size:
                # Bounded memory: the next part waits for the oldest one in flight.
                if len(self._in_flight) >= PARTS_IN_FLIGHT:
                    await self._in_flight.popleft()
                self._send()

    async def complete(self) -> None:
        """Uploads what is buffered and makes the object visible under its key."""
        if self._buffer is not None or not self._parts:
            self._send()
        while self._in_flight:
            await self._in_flight.popleft()
        with self.s3._errors(f"complete upload of {self.bucket}/{self.key}"):
            await self.s3._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self.completed = True

    async def abort(self) -> None:
        """Drops the parts uploaded so far; best effort (a store that is down keeps an
        invisible incomplete upload, which the next backup's clean-up aborts)."""
        for task in self._in_flight:
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        self._in_flight.clear()
        self._buffer = None
        try:
            async with asyncio.timeout(ABORT_TIMEOUT):
                await self.s3.abort_upload(self.bucket, self.key, self.upload_id)
        except (S3Error, TimeoutError) as exc:
            log.warning("could not abort the upload of %s/%s: %s", self.bucket, self.key, exc)

    def _send(self) -> None:
        """Starts uploading the buffer as the next part; a new buffer fills meanwhile."""
        part, self._buffer = self._buffer or io.BytesIO(), None
        part.truncate(part.tell())  # a last part is shorter
        part.seek(0)
        number = len(self._parts) + 1
        self._parts.append({"PartNumber": number})
        self._in_flight.append(asyncio.create_task(self._upload_part(number, part)))

    async def _upload_part(self, number: int, part: io.BytesIO) -> None:
        # zlib releases the GIL over a large buffer: the CRC costs the event loop nothing.
        with part.getbuffer() as view:
            crc = await asyncio.to_thread(zlib.crc32, view)
        checksum = base64.b64encode(crc.to_bytes(4, "big")).decode()
        with self.s3._errors(f"upload part {number} of {self.bucket}/{self.key}"):
            resp = await self.s3._client.upload_part(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=part,
                ChecksumCRC32=checksum,
            )
        self._parts[number - 1].update(ETag=resp["ETag"], ChecksumCRC32=checksum)
        self.parts_uploaded += 1


def part_buffer(size: int) -> io.BytesIO:
    """An empty BytesIO holding `size` bytes of room, allocated at once.

    Written to rather than built from bytes, it is sent by aiohttp as it is (a `bytes` body
    is copied once more on the way out); sized up front, it is not reallocated as it grows,
    which would leave the allocator's heap fragmented by every part's intermediate sizes.
    """
    buffer = io.BytesIO()
    buffer.seek(size - 1)
    buffer.write(b"\0")
    buffer.seek(0)
    return buffer
