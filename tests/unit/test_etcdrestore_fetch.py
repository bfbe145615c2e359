"""The restore's fetch program (controller/etcdrestore/fetch.py) without S3: its command line
(exactly what the seed pod's init container runs), the mounted Secret's files, a file
already fetched, and the one line it prints on failure. Downloads are in
tests/integration/test_etcdrestore_s3.py."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
from pathlib import Path

import pytest

from controller.etcdrestore.fetch import (
    INVALID_ARGUMENTS,
    Args,
    FetchError,
    already_there,
    fetch,
    main,
    parse_args,
    partial_path,
    read_settings,
    until_terminated,
)

DB = b"etcd database " * 5000
GOOD = DB + hashlib.sha256(DB).digest()
KEY_ID, SECRET = "AKIDFETCHEXAMPLE", "fetch-secret-never-shown"
CREDENTIALS = f"[default]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"


def aws_dir(
    tmp_path: Path, credentials: str | None = CREDENTIALS, config: str | None = None
) -> Path:
    d = tmp_path / "aws"
    d.mkdir(parents=True)
    if credentials is not None:
        (d / "credentials").write_text(credentials)
    if config is not None:
        (d / "config").write_text(config)
    return d


def test_the_command_line() -> None:
    args = parse_args(
        [
            "--path", "etcd-bucket/dir/etcd.backup_v2_2019-10-11-08:53:40",
            "--aws-dir", "/etc/aws",
            "--out", "/var/etcd/restore/snapshot.db",
            "--endpoint", "http://s3.example:7070",
            "--force-path-style",
        ]
    )  # fmt: skip
    assert args == Args(
        bucket="etcd-bucket",
        key="dir/etcd.backup_v2_2019-10-11-08:53:40",
        aws_dir=Path("/etc/aws"),
        out=Path("/var/etcd/restore/snapshot.db"),
        endpoint="http://s3.example:7070",
        force_path_style=True,
    )
    assert args.source == "s3://etcd-bucket/dir/etcd.backup_v2_2019-10-11-08:53:40"
    plain = parse_args(["--path", "b/k", "--aws-dir", "d", "--out", "f", "--endpoint", ""])
    assert (plain.endpoint, plain.force_path_style) == (None, False)  # AWS itself


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        ([], "required"),
        (["--path", "b/k", "--aws-dir", "d"], "--out"),
        (["--path", "nobucketkey", "--aws-dir", "d", "--out", "f"], "is not BUCKET/KEY"),
        (["--path", "/key", "--aws-dir", "d", "--out", "f"], "is not BUCKET/KEY"),
        (["--path", "bucket/", "--aws-dir", "d", "--out", "f"], "is not BUCKET/KEY"),
        (["--path", "b/k", "--aws-dir", "d", "--out", "f", "--bogus"], "unrecognized"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_1(argv: list[str], words: str) -> None:
    with pytest.raises(FetchError) as err:
        parse_args(argv)
    assert err.value.reason == INVALID_ARGUMENTS and words in str(err.value)
    code, line = fetch(argv)
    assert code == 1 and line.startswith("fetch: InvalidArguments: ") and "\n" not in line


def test_settings_come_from_the_mounted_secret(tmp_path: Path) -> None:
    d = aws_dir(tmp_path, config="[default]\nregion = eu-west-3\n")
    args = Args("b", "k", d, tmp_path / "out", "http://s3:7070", True)
    s = read_settings(args)
    assert (s.access_key_id, s.secret_access_key) == (KEY_ID, SECRET)
    assert (s.region, s.endpoint, s.force_path_style) == ("eu-west-3", "http://s3:7070", True)
    no_config = aws_dir(tmp_path / "2")
    assert read_settings(Args("b", "k", no_config, tmp_path / "out")).region == "us-east-1"


@pytest.mark.parametrize(
    ("credentials", "words"),
    [
        (None, "credentials does not exist"),
        ("[other]\naws_access_key_id = a\naws_secret_access_key = b\n", "no [default] profile"),
        (f"[default]\naws_access_key_id = {KEY_ID}\n", "aws_secret_access_key missing"),
        (f"aws_secret_access_key = {SECRET}\n", "not an AWS shared file"),
    ],
)
def test_a_bad_secret_is_invalid_aws_secret_without_its_data(
    tmp_path: Path, credentials: str | None, words: str
) -> None:
    d = aws_dir(tmp_path, credentials=credentials)
    out = tmp_path / "snapshot.db"
    code, line = fetch(["--path", "b/k", "--aws-dir", str(d), "--out", str(out)])
    assert code == 1 and line.startswith("fetch: InvalidAWSSecret: ") and words in line
    assert SECRET not in line and KEY_ID not in line and "\n" not in line
    assert not out.exists() and not partial_path(out).exists()


def test_a_file_already_fetched_is_not_fetched_again(tmp_path: Path) -> None:
    out = tmp_path / "snapshot.db"
    out.write_bytes(GOOD)
    assert already_there(out) == len(GOOD)
    # No aws dir and no S3 at all: the restarted init container is done at once.
    code, line = fetch(["--path", "b/k", "--aws-dir", str(tmp_path / "none"), "--out", str(out)])
    assert (code, line) == (0, f"{out} is already s3://b/k ({len(GOOD)} bytes, SHA-256 verified)")
    assert out.read_bytes() == GOOD


def test_a_file_that_does_not_verify_is_removed_and_fetched_again(tmp_path: Path) -> None:
    out = tmp_path / "snapshot.db"
    out.write_bytes(GOOD[:-1])
    assert already_there(out) is None and not out.exists()
    assert already_there(tmp_path / "never-there") is None
    out.write_bytes(DB)
    code, line = fetch(["--path", "b/k", "--aws-dir", str(tmp_path / "none"), "--out", str(out)])
    assert code == 1 and "InvalidAWSSecret" in line  # it went on to fetch, and needed the Secret
    assert not out.exists()


def test_partial_path() -> None:
    assert partial_path(Path("/var/etcd/snapshot.db")) == Path("/var/etcd/snapshot.db.partial")


def test_main_prints_one_line_to_stderr_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--path", "b/k", "--aws-dir", str(tmp_path), "--out", str(tmp_path / "f")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("fetch: InvalidAWSSecret: ")


def test_main_says_success_on_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "snapshot.db"
    out.write_bytes(GOOD)
    assert main(["--path", "b/k", "--aws-dir", str(tmp_path), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "SHA-256 verified" in captured.out


async def test_sigterm_cancels_the_download_and_says_so(tmp_path: Path) -> None:
    partial = tmp_path / "snapshot.db.partial"
    cleaned = asyncio.Event()

    async def download() -> int:
        partial.write_bytes(b"half")
        try:
            await asyncio.Event().wait()  # a download that would take long
        finally:
            partial.unlink()
            cleaned.set()
        return 0

    asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)
    with pytest.raises(FetchError) as err:
        await until_terminated(download())
    assert err.value.reason == "Terminated" and cleaned.is_set() and not partial.exists()
    assert await until_terminated(asyncio.sleep(0, result=7)) == 7  # the handler is gone again
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
