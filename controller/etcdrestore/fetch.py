"""The restore's fetch program, run in the seed member pod's init container (the operator's
own image, localhost/etcd-operator):

    python -m controller.etcdrestore.fetch --path BUCKET/KEY --aws-dir DIR --out FILE \\
        [--endpoint URL] [--force-path-style]

Reads the AWS shared files `credentials` and `config` (profile default) from DIR — the
EtcdRestore's awsSecret mounted as a volume — streams s3://BUCKET/KEY to FILE.partial in
1 MiB pieces while checking its SHA-256 trailer (memory stays at about one piece whatever the
size), fsyncs it, renames it to FILE and exits 0. If FILE already exists and verifies (a
restarted init container), it exits 0 without downloading.

Any failure removes FILE.partial (and a FILE that does not verify), prints ONE line to
stderr — `fetch: <Reason>: <message>`, the reasons the EtcdRestore's Verified condition uses
(BackupNotFound, NoSuchBucket, S3AccessDenied, S3Unreachable, S3Error, BackupCorrupt,
InvalidAWSSecret; InvalidArguments, WriteFailed, Terminated) — and exits 1, so the pod shows
the init container failed and why. Credentials never appear in the output.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from api.storage import (
    AWS_SECRET_CONFIG_FILE,
    AWS_SECRET_CREDENTIALS_FILE,
    BUCKET_PATH_PATTERN,
)
from controller.clients.s3 import S3Client, S3Error, S3Settings, settings_from_files
from controller.clients.snapshotstream import TrailerCheck, TrailerMismatch, verify_file
from controller.etcdrestore.reasons import BACKUP_CORRUPT, INVALID_AWS_SECRET
from controller.etcdrestore.task import CHUNK, corrupt, s3_reason, source_url

INVALID_ARGUMENTS = "InvalidArguments"
WRITE_FAILED = "WriteFailed"
FETCH_ERROR = "FetchError"
TERMINATED = "Terminated"
T = TypeVar("T")
PARTIAL_SUFFIX = ".partial"


class FetchError(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Args:
    bucket: str
    key: str
    aws_dir: Path
    out: Path
    endpoint: str | None = None
    force_path_style: bool = False

    @property
    def source(self) -> str:
        return source_url(self.bucket, self.key)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse would print usage and exit 2
        raise FetchError(INVALID_ARGUMENTS, message)


def parse_args(argv: Sequence[str]) -> Args:
    parser = _Parser(
        prog="python -m controller.etcdrestore.fetch",
        description="Download a backup object from S3, verifying its SHA-256 trailer.",
    )
    parser.add_argument("--path", required=True, help="BUCKET/KEY of the backup object")
    parser.add_argument(
        "--aws-dir", required=True, type=Path, help="directory with `credentials` and `config`"
    )
    parser.add_argument("--out", required=True, type=Path, help="the file to write")
    parser.add_argument("--endpoint", default=None, help="URL of an S3-compatible store")
    parser.add_argument("--force-path-style", action="store_true", help="path-style addressing")
    ns = parser.parse_args(list(argv))
    if not re.fullmatch(BUCKET_PATH_PATTERN, ns.path):
        raise FetchError(INVALID_ARGUMENTS, f"--path {ns.path!r} is not BUCKET/KEY")
    bucket, key = ns.path.split("/", 1)
    return Args(bucket, key, ns.aws_dir, ns.out, ns.endpoint or None, ns.force_path_style)


def read_settings(args: Args) -> S3Settings:
    """S3 settings from the mounted Secret's files (`config` is optional: region us-east-1)."""
    files: dict[str, bytes] = {}
    for name in (AWS_SECRET_CREDENTIALS_FILE, AWS_SECRET_CONFIG_FILE):
        path = args.aws_dir / name
        try:
            files[name] = path.read_bytes()
        except FileNotFoundError:
            if name == AWS_SECRET_CREDENTIALS_FILE:
                raise FetchError(INVALID_AWS_SECRET, f"{path} does not exist") from None
        except OSError as exc:
            raise FetchError(INVALID_AWS_SECRET, f"{path}: {exc.strerror}") from None
    try:
        return settings_from_files(files, args.endpoint, args.force_path_style)
    except S3Error as exc:
        raise FetchError(exc.reason, f"{args.aws_dir}: {exc}") from None


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + PARTIAL_SUFFIX)


def already_there(out: Path) -> int | None:
    """The size of `out` if it exists and verifies; a file that does not verify is removed."""
    try:
        return verify_file(out, CHUNK)
    except FileNotFoundError:
        return None
    except (TrailerMismatch, OSError):
        out.unlink(missing_ok=True)
        return None


async def download(args: Args, settings: S3Settings, chunk: int = CHUNK) -> int:
    """Streams the object to FILE.partial through the trailer check, then makes it FILE;
    the partial file is removed on any failure (cancellation included). Returns the size."""
    partial = partial_path(args.out)
    check = TrailerCheck()
    try:
        with partial.open("wb") as f:
            async with S3Client(settings) as s3:
                async for piece in s3.read(args.bucket, args.key, chunk):
                    f.write(check.feed(piece))
            if not check.verified:
                raise FetchError(BACKUP_CORRUPT, corrupt(args.source, check))
            f.write(check.held)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, args.out)
        _fsync_dir(args.out.parent)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return check.size


async def until_terminated(work: Coroutine[Any, Any, T]) -> T:
    """Runs `work`; SIGTERM (the pod deleted) cancels it — download() then removes its
    partial file — and ends in FetchError(Terminated)."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    terminated = False

    def terminate() -> None:
        nonlocal terminated
        terminated = True
        task.cancel()

    loop.add_signal_handler(signal.SIGTERM, terminate)
    try:
        return await task
    except asyncio.CancelledError:
        if terminated:
            raise FetchError(TERMINATED, "stopped by SIGTERM before the download ended") from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def _fsync_dir(path: Path) -> None:
    """Makes the rename durable (a directory's entries are data of the directory)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fetch(argv: Sequence[str]) -> tuple[int, str]:
    """(exit code, the line to print): the program without its process-level parts."""
    settings: S3Settings | None = None
    try:
        args = parse_args(argv)
        existing = already_there(args.out)
        if existing is not None:
            return 0, f"{args.out} is already {args.source} ({existing} bytes, SHA-256 verified)"
        settings = read_settings(args)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        size = asyncio.run(until_terminated(download(args, settings)))
        return 0, f"fetched {args.source} to {args.out}: {size} bytes, SHA-256 verified"
    except FetchError as exc:
        reason, message = exc.reason, str(exc)
    except S3Error as exc:
        reason, message = s3_reason(exc), str(exc)
    except OSError as exc:
        reason, message = WRITE_FAILED, f"{exc.filename or ''}: {exc.strerror or exc}"
    except Exception as exc:  # a bug: still one line, still no credentials
        reason, message = FETCH_ERROR, f"{type(exc).__name__}: {exc}"
    if settings is not None:
        message = settings.redact(message)
    return 1, f"fetch: {reason}: {' '.join(message.split())}"


def main(argv: Sequence[str] | None = None) -> int:
    code, line = fetch(sys.argv[1:] if argv is None else argv)
    print(line, file=sys.stderr if code else sys.stdout, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
