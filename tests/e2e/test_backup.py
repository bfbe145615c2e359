"""EtcdBackup end to end: the seed's periodic_backup_cr.yaml against a real TLS EtcdCluster (the
seed's, at size 1) and the local environment's real S3 server (versitygw); nothing mocked.

As in the user story, the cluster is handled by a cluster-wide operator and the backups by a
namespaced one (the seed's EtcdBackup carries no scope annotation). The seed's backup is
applied with its S3 endpoint pointed at the local server, the interval shortened, and — so
that tests never share objects — its bucket and its etcd endpoint's namespace those of the
test. Faults each end with a reason in the status and an Event, and harm nothing: no object
that is not a whole verified snapshot, no upload left pending once the next backup ran.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.clients.kube import EVENTS, SECRETS, KubeClient
from controller.clients.s3 import S3Client, S3Settings, settings_from_files
from controller.common.resources import ETCD_BACKUPS
from controller.etcdbackup.naming import parse_periodic
from tests.e2e.operator import (
    IN_CLUSTER,
    ROOT,
    Etcdctl,
    Obj,
    Operator,
    apply_cluster,
    client_certs,
    eventually,
    running_with,
    seed_tls,
)
from tests.etcdproc import free_port
from tests.seed import BACKUP, CLUSTER, load_seed, set_field

pytestmark = pytest.mark.e2e
KEY = "etcd.backup"
INTERVAL = 5  # seconds; the seed says 125
ETCDUTL = ROOT / ".local" / "bin" / "etcd-3.6" / "etcdutl"
VERSITYGW = ROOT / ".local" / "bin" / "versitygw"


# --- the world ---------------------------------------------------------------------------
async def tls_cluster(
    kube: KubeClient,
    kubectl: Callable[..., Any],
    env: dict[str, str],
    namespace: str,
    operators: Callable[..., Operator],
    certs: Path,
) -> Etcdctl:
    """The seed's example cluster (TLS, PVCs) at size 1, Running; etcdctl against it."""
    seed_tls(env, namespace)
    doc = load_seed(CLUSTER)
    set_field(doc, "metadata.namespace", namespace)
    set_field(doc, "spec.size", 1)
    apply_cluster(kubectl, doc)
    operators()
    await eventually(running_with(kube, namespace, "example", 1), "the example cluster Running")
    etcdctl = Etcdctl(env, namespace, "example", await client_certs(kube, namespace, certs))
    await etcdctl.members_once_served()
    return etcdctl


def backup_operator(
    operators: Callable[..., Operator], namespace: str, faults: str = ""
) -> Operator:
    """A namespaced operator running the backup controller, with a lease of its own."""
    args = ("--controllers", "backup", "--no-cluster-wide", "--namespace", namespace)
    lease = ("--leader-election-namespace", namespace, "--leader-election-id", "backup-e2e")
    return operators(faults=faults, args=args + lease)


def seed_backup(
    namespace: str,
    endpoint: str,
    bucket: str,
    name: str = "example-etcd-cluster-periodic-backup",
    key: str = KEY,
    interval: int = INTERVAL,
    **fields: Any,
) -> Obj:
    doc: Obj = load_seed(BACKUP)
    set_field(doc, "metadata.name", name)
    set_field(doc, "metadata.namespace", namespace)
    set_field(doc, "spec.s3.endpoint", endpoint)
    set_field(doc, "spec.s3.path", f"{bucket}/{key}")
    set_field(doc, "spec.backupPolicy.backupIntervalInSecond", interval)
    (url,) = doc["spec"]["etcdEndpoints"]
    doc["spec"]["etcdEndpoints"] = [url.replace(".default.svc", f".{namespace}.svc")]
    for path, value in fields.items():
        set_field(doc, path.replace("__", "."), value)
    return doc


def apply(kubectl: Callable[..., Any], doc: Obj) -> None:
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(doc))


def s3_secret(env: dict[str, str], namespace: str, bucket: str, name: str = "aws") -> None:
    """The seed's `aws` Secret and a bucket (hack/s3-secret.sh)."""
    script = str(ROOT / "hack" / "s3-secret.sh")
    subprocess.run([script, name, namespace, bucket], env={**os.environ, **env}, check=True)


def aws_files(key_id: str, secret: str) -> dict[str, bytes]:
    credentials = f"[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
    return {"credentials": credentials.encode(), "config": b"[default]\nregion = us-east-1\n"}


async def put_secret(kube: KubeClient, namespace: str, name: str, files: dict[str, bytes]) -> None:
    body = {"metadata": {"name": name}, "stringData": {k: v.decode() for k, v in files.items()}}
    try:
        await kube.create(SECRETS, body, namespace)
    except Exception:
        await kube.patch(SECRETS, name, {"stringData": body["stringData"]}, namespace)


def local_s3(env: dict[str, str]) -> S3Settings:
    files = aws_files(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    return settings_from_files(files, env["AWS_ENDPOINT_URL_S3"], True)


def new_bucket() -> str:
    return f"e2e-{uuid.uuid4().hex[:12]}"


def write_keys(etcdctl: Etcdctl, count: int, prefix: str, value_bytes: int = 0) -> None:
    """`count` puts, one revision each, in one in-cluster shell (a network namespace per
    etcdctl would cost seconds each); values of `value_bytes` random bytes, or "v"."""
    value = (
        f'head -c {value_bytes} /dev/urandom | etcdctl "$@" put "$P$i"'
        if value_bytes
        else ('etcdctl "$@" put "$P$i" v')
    )
    script = f'N=$1 P=$2; shift 2; for i in $(seq "$N"); do {value} >/dev/null || exit 1; done'
    proc = subprocess.run(
        [IN_CLUSTER, "bash", "-c", script, "_", str(count), prefix, *etcdctl.args],
        env=etcdctl.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"writing {count} keys: {proc.stderr}"


def revision(etcdctl: Etcdctl) -> int:
    (status,) = json.loads(etcdctl("endpoint", "status", "-w", "json"))
    return int(status["Status"]["header"]["revision"])


async def backup_status(kube: KubeClient, namespace: str, name: str) -> Obj:
    return dict((await kube.get(ETCD_BACKUPS, name, namespace)).get("status") or {})


def condition(status: Obj, type_: str) -> Obj:
    return next((c for c in status.get("conditions") or [] if c["type"] == type_), {})


async def events_of(kube: KubeClient, namespace: str, name: str) -> list[Obj]:
    events = (await kube.list(EVENTS, namespace))["items"]
    return [e for e in events if e["involvedObject"]["name"] == name]


async def events_with(kube: KubeClient, namespace: str, name: str, *reasons: str) -> list[Obj]:
    """The Events about `name` once every one of `reasons` is among them. A reconciler posts
    its Events right after the write that made them true, so a test that saw the write may
    list the Events a moment too early."""

    async def posted() -> list[Obj] | None:
        events = await events_of(kube, namespace, name)
        return events if set(reasons) <= {e["reason"] for e in events} else None

    return list(await eventually(posted, f"Events {', '.join(reasons)} about {name}"))


def restorable(snapshot: Path, workdir: Path) -> int:
    """The snapshot's revision, once `etcdutl snapshot restore` (which checks the SHA-256
    trailer) accepted it."""
    target = workdir / f"restored-{uuid.uuid4().hex[:6]}"
    subprocess.run(
        [str(ETCDUTL), "snapshot", "restore", str(snapshot), "--data-dir", str(target)],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [str(ETCDUTL), "snapshot", "status", str(snapshot), "-w", "json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(re.search(r'"revision":\s*(\d+)', out).group(1))  # type: ignore[union-attr]


async def download(s3: S3Client, bucket: str, key: str, to: Path) -> Path:
    with to.open("wb") as out:
        async for chunk in s3.read(bucket, key):
            out.write(chunk)
    return to


@pytest.fixture
async def s3(local_env: dict[str, str]) -> AsyncIterator[S3Client]:
    async with S3Client(local_s3(local_env)) as client:
        yield client


# --- the user story ----------------------------------------------------------------------
async def test_seed_periodic_backup_keeps_the_newest_by_revision_across_lengths(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
    s3: S3Client,
    tmp_path: Path,
) -> None:
    etcdctl = await tls_cluster(kube, kubectl, local_env, namespace, operators, tmp_path)
    bucket = new_bucket()
    s3_secret(local_env, namespace, bucket)
    endpoint = local_env["AWS_ENDPOINT_URL_S3"]
    periodic = seed_backup(namespace, endpoint, bucket)
    name = periodic["metadata"]["name"]
    one_shot = seed_backup(namespace, endpoint, bucket, "one-shot", "once/etcd.backup", 0)
    apply(kubectl, periodic)
    apply(kubectl, one_shot)
    op = backup_operator(operators, namespace)

    # Revisions 1 → 9 → 10 → 100 → 101: names of 1, 2 and 3 digits, and more backups than
    # maxBackups (4), several at one revision (the periodic ones in between).
    for target in (revision(etcdctl), 9, 10, 100, 101):
        write_keys(etcdctl, target - revision(etcdctl), f"/rev{target}/")

        async def backed_up(at: int = target) -> Obj | None:
            status = await backup_status(kube, namespace, name)
            return status if status.get("etcdRevision") == at and status["succeeded"] else None

        await eventually(backed_up, f"a backup at revision {target}")

    async def four_left() -> list[str] | None:
        names = [o.key for o in await s3.list_objects(bucket, KEY)]
        return names if len(names) == 4 and any("_v101_" in n for n in names) else None

    await eventually(four_left, "retention down to maxBackups")
    once = await backup_status(kube, namespace, "one-shot")
    assert once["succeeded"] is True
    assert [o.key for o in await s3.list_objects(bucket, "once/")] == ["once/etcd.backup"]
    # Ours: the object as an EtcdRestore's s3.path takes it, and its size as stored.
    (stored_once,) = await s3.list_objects(bucket, "once/")
    assert once["lastBackupPath"] == f"{bucket}/once/etcd.backup"
    assert once["lastBackupSizeBytes"] == stored_once.size > 0
    succeeded = [e for e in await events_of(kube, namespace, "one-shot")]
    assert [e["reason"] for e in succeeded] == ["BackupSucceeded"]  # once, not per interval
    op.stop()  # what is written is final from here on

    left = sorted(o.key for o in await s3.list_objects(bucket, KEY))
    written = [
        m.group(1)
        for e in await events_of(kube, namespace, name)
        if e["reason"] == "BackupSucceeded"
        and (m := re.match(rf"s3://{bucket}/(\S+):", e["message"]))
    ]
    # Stopped, the operator may have cut its latest backup between the upload and the pass
    # that posts its Event, or before its prune: that object counts too, and one may be left
    # over the four. Never pruned: any of the newest four.
    taken = {*written, *left}
    parsed = [p for p in (parse_periodic(KEY, n) for n in taken) if p is not None]
    assert len(parsed) == len(taken) > 4, written
    newest = sorted(parsed, key=lambda p: (p.revision, p.taken), reverse=True)[:4]
    newest_names = {p.name for p in newest}
    assert newest_names <= set(left) and len(left) <= 5, left
    assert newest[0].revision == 101
    assert {len(str(p.revision)) for p in parsed} == {1, 2, 3}  # _v9_, _v10_, _v100_ ...
    by_string = set(sorted(taken)[-4:])  # what CoreOS's string-sorted retention keeps
    assert by_string != newest_names, "string order would have kept the same"
    assert await s3.pending_uploads(bucket, "") == []

    status = await backup_status(kube, namespace, name)
    assert status["succeeded"] is True and "Reason" not in status
    assert status["etcdVersion"] == "3.6.16" and status["etcdRevision"] == 101
    datetime.strptime(status["lastSuccessDate"], "%Y-%m-%dT%H:%M:%SZ")
    ok = condition(status, "Succeeded")
    assert ok["status"] == "True" and ok["reason"] == "BackupSucceeded"
    assert re.search(rf"s3://{bucket}/{re.escape(KEY)}_v101_\S+: \d+ bytes", ok["message"])
    assert condition(status, "Retention")["status"] == "True"
    # The latest success's object (one that retention kept) and its size as stored; the same
    # object the condition names.
    last = status["lastBackupPath"].removeprefix(f"{bucket}/")
    assert last in left and status["lastBackupPath"] == f"{bucket}/{last}"
    assert (parsed_last := parse_periodic(KEY, last)) is not None and parsed_last.revision == 101
    sizes = {o.key: o.size for o in await s3.list_objects(bucket, KEY)}
    assert status["lastBackupSizeBytes"] == sizes[last] > 0
    assert ok["message"].startswith(f"s3://{bucket}/{last}: {sizes[last]} bytes")

    saved = await download(s3, bucket, newest[0].name, tmp_path / "newest.db")
    assert restorable(saved, tmp_path) == 101


# --- faults: each with a reason, none harming anything -----------------------------------
async def test_bad_settings_fail_with_a_reason_and_harm_nothing(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
    s3: S3Client,
    tmp_path: Path,
) -> None:
    etcdctl = await tls_cluster(kube, kubectl, local_env, namespace, operators, tmp_path)
    bucket = new_bucket()
    s3_secret(local_env, namespace, bucket)
    key_id, secret = local_env["AWS_ACCESS_KEY_ID"], local_env["AWS_SECRET_ACCESS_KEY"]
    await put_secret(kube, namespace, "aws-wrong", aws_files(key_id, "wrong" + secret[5:]))
    endpoint = local_env["AWS_ENDPOINT_URL_S3"]
    closed = [f"https://example-client.{namespace}.svc:2999"]  # resolves; nothing listens
    aws = "spec__s3__awsSecret"
    cases = {  # name: (key, expected reason, extra fields)
        "missing-bucket": ("mb/etcd.backup", "S3BucketNotFound", {}),
        "wrong-credentials": ("wrong/etcd.backup", "S3AccessDenied", {aws: "aws-wrong"}),
        "etcd-unreachable": (
            "down/etcd.backup",
            "EtcdUnavailable",
            {"spec__etcdEndpoints": closed},
        ),
        "secret-missing": ("later/etcd.backup", "SecretNotFound", {aws: "aws-later"}),
    }
    for name, (key, _, fields) in cases.items():
        target = f"missing-{uuid.uuid4().hex[:8]}" if name == "missing-bucket" else bucket
        apply(kubectl, seed_backup(namespace, endpoint, target, name, key, 0, **fields))
    backup_operator(operators, namespace)

    for name, (_, reason, _) in cases.items():

        async def failed(name: str = name, reason: str = reason) -> Obj | None:
            status = await backup_status(kube, namespace, name)
            cond = condition(status, "Succeeded")
            return status if cond.get("reason") == reason and not status["succeeded"] else None

        status = await failed()
        status = status or await eventually(failed, f"{name} to fail with {reason}")
        assert status["Reason"] and condition(status, "Succeeded")["status"] == "False"

        async def warned(name: str = name, reason: str = reason) -> list[Obj]:
            return [
                e
                for e in await events_of(kube, namespace, name)
                if e["type"] == "Warning" and e["reason"] == reason
            ]

        events = await eventually(warned, f"a Warning event {reason} about {name}")
        for text in (json.dumps(status), json.dumps(events)):
            assert secret not in text and key_id not in text and secret[5:] not in text

    # Nothing harmed: no object, no pending upload, the cluster serves.
    assert await s3.list_objects(bucket, "") == []
    assert await s3.pending_uploads(bucket, "") == []
    etcdctl("endpoint", "health")

    # Fixes take effect at once: the Secrets' events enqueue the backups naming them.
    await put_secret(kube, namespace, "aws-wrong", aws_files(key_id, secret))
    await put_secret(kube, namespace, "aws-later", aws_files(key_id, secret))

    async def fixed() -> list[str] | None:
        keys = sorted(o.key for o in await s3.list_objects(bucket, ""))
        return keys if keys == ["later/etcd.backup", "wrong/etcd.backup"] else None

    await eventually(fixed, "the fixed backups stored", timeout=60)
    for name in ("wrong-credentials", "secret-missing"):
        assert (await backup_status(kube, namespace, name))["succeeded"] is True


class PrivateS3:
    """A versitygw of the test's own, which it may stop (the shared one stays up for the
    others), on the bridge gateway so that the operator in the cluster network reaches it."""

    def __init__(self, gateway: str, workdir: Path):
        self.address = (gateway, free_port())
        self.endpoint = f"http://{gateway}:{self.address[1]}"
        self.data = workdir / "s3-data"
        self.data.mkdir()
        self.log = workdir / "versitygw.log"
        self.key_id, self.secret = f"private{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def settings(self) -> S3Settings:
        return settings_from_files(aws_files(self.key_id, self.secret), self.endpoint, True)

    def launch(self) -> None:
        env = {"ROOT_ACCESS_KEY": self.key_id, "ROOT_SECRET_KEY": self.secret}
        port = f"{self.address[0]}:{self.address[1]}"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(VERSITYGW), "--port", port, "posix", str(self.data)],
                env=env,
                stdout=out,
                stderr=out,
            )

    async def start(self) -> None:
        self.launch()
        async with asyncio.timeout(60):
            while True:
                try:
                    _, writer = await asyncio.open_connection(*self.address)
                except OSError:
                    await asyncio.sleep(0.1)  # polling for the listener, bounded above
                    continue
                writer.close()
                return

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def parts_on_disk(self) -> list[Path]:
        """Parts of incomplete multipart uploads, as versitygw's POSIX backend keeps them."""
        return list(self.data.glob("*/.sgwtmp/multipart/*/*/*"))


@pytest.fixture
async def private_s3(local_env: dict[str, str], tmp_path: Path) -> AsyncIterator[PrivateS3]:
    server = PrivateS3(local_env["CLUSTER_GATEWAY"], tmp_path)
    await server.start()
    yield server
    server.kill()


async def soon(check: Callable[[], Any], what: str, timeout: float = 120) -> None:
    """Polls a cheap local check every 10 ms (a part on disk lives for a fraction of a second)."""
    async with asyncio.timeout(timeout):
        while True:
            if check():
                return
            await asyncio.sleep(0.01)


def operator_pid(namespace: str) -> int:
    """The backup operator's own process (not the in-cluster wrapper around it)."""
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if len(argv) > 1 and argv[1].endswith(b"etcd-operator") and namespace.encode() in argv:
            return int(proc.name)
    raise AssertionError("the backup operator's process is not running")


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


async def test_s3_server_stopped_mid_upload_leaves_no_object_and_the_next_backup_succeeds(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
    private_s3: PrivateS3,
    tmp_path: Path,
) -> None:
    etcdctl = await tls_cluster(kube, kubectl, local_env, namespace, operators, tmp_path)
    write_keys(etcdctl, 192, "/big/", value_bytes=1024 * 1024)  # a snapshot of ~200 MiB
    bucket = new_bucket()
    async with S3Client(private_s3.settings) as s3:
        await s3.create_bucket(bucket)
    await put_secret(kube, namespace, "aws", aws_files(private_s3.key_id, private_s3.secret))
    op = backup_operator(operators, namespace)
    leading = re.compile(r"starting \d+ workers .*controller=etcdbackup")
    await eventually(
        lambda: asyncio.to_thread(lambda: leading.search(op.log())), "the backups' leader"
    )
    pid = operator_pid(namespace)
    idle_rss = peak_rss_mib(pid)
    apply(kubectl, seed_backup(namespace, private_s3.endpoint, bucket, "big", KEY, 0))

    await soon(private_s3.parts_on_disk, "a part on the S3 server's disk")
    private_s3.proc.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
    private_s3.kill()
    assert not (private_s3.data / bucket / KEY).exists()

    async def failed() -> Obj | None:
        status = await backup_status(kube, namespace, "big")
        return status if condition(status, "Succeeded").get("reason") == "S3Unreachable" else None

    status = await eventually(failed, "the backup to fail with S3Unreachable")
    assert status["succeeded"] is False and private_s3.endpoint in status["Reason"]
    assert private_s3.secret not in json.dumps(status)
    assert not (private_s3.data / bucket / KEY).exists()  # no object, whole or not

    await private_s3.start()

    async def succeeded() -> Obj | None:
        status = await backup_status(kube, namespace, "big")
        return status if status.get("succeeded") else None

    status = await eventually(succeeded, "the next backup to succeed")
    message = condition(status, "Succeeded")["message"]
    size, seconds = (float(x) for x in re.search(r": (\d+) bytes.* in ([\d.]+)s", message).groups())  # type: ignore[union-attr]
    peak = peak_rss_mib(pid)
    print(
        f"backup of {size / 2**20:.0f} MiB in {seconds:.1f}s ({size / 2**20 / seconds:.0f} MiB/s);"
        f" operator peak RSS {idle_rss:.0f} MiB idle, {peak:.0f} MiB after the backups"
    )
    # S3's service model (loaded by the first client), two 8 MiB parts, gRPC's buffers: not
    # the snapshot, which would add its whole size.
    assert peak - idle_rss < size / 2**20 / 2, "the operator's memory grew with the snapshot"
    async with S3Client(private_s3.settings) as s3:
        assert [(o.key, o.size) for o in await s3.list_objects(bucket, "")] == [(KEY, size)]
        assert (status["lastBackupPath"], status["lastBackupSizeBytes"]) == (
            f"{bucket}/{KEY}",
            size,
        )
        assert await s3.pending_uploads(bucket, "") == []  # the cut-off upload was aborted
        assert not private_s3.parts_on_disk()
        saved = await download(s3, bucket, KEY, tmp_path / "big.db")
    assert restorable(saved, tmp_path) == status["etcdRevision"]


async def test_operator_killed_mid_backup_then_one_backup_and_the_interval_no_burst(
    kube: KubeClient,
    namespace: str,
    kubectl: Callable[..., Any],
    local_env: dict[str, str],
    operators: Callable[..., Operator],
    s3: S3Client,
    tmp_path: Path,
) -> None:
    etcdctl = await tls_cluster(kube, kubectl, local_env, namespace, operators, tmp_path)
    write_keys(etcdctl, 24, "/mid/", value_bytes=1024 * 1024)  # three parts and more
    bucket = new_bucket()
    s3_secret(local_env, namespace, bucket)
    doc = seed_backup(namespace, local_env["AWS_ENDPOINT_URL_S3"], bucket)
    name = doc["metadata"]["name"]
    apply(kubectl, doc)

    crashing = backup_operator(operators, namespace, faults="backup-mid-upload:crash")
    await crashing.crash("backup-mid-upload")
    (left_behind,) = await s3.pending_uploads(bucket, "")  # a part stored, no object
    assert parse_periodic(KEY, left_behind.key) is not None
    assert await s3.list_objects(bucket, "") == []

    # The durable record says the last success was an hour ago: 720 intervals were missed.
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = {"succeeded": True, "lastSuccessDate": hour_ago}
    await kube.patch(ETCD_BACKUPS, name, {"status": status}, namespace, sub="status")
    backup_operator(operators, namespace)

    async def three_backups() -> list[str] | None:
        names = [o.key for o in await s3.list_objects(bucket, KEY)]
        return names if len(names) >= 3 else None

    names = await eventually(three_backups, "three backups after the restart")
    taken = sorted(p.taken for p in (parse_periodic(KEY, n) for n in names) if p)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(taken)]
    # Names carry whole seconds: a gap of INTERVAL may read one second less.
    assert all(gap >= INTERVAL - 1 for gap in gaps), f"missed runs made up in a burst: {gaps}"
    assert await s3.pending_uploads(bucket, "") == []  # the crashed run's upload was aborted
    first = min(names, key=lambda n: parse_periodic(KEY, n).taken)  # type: ignore[union-attr]
    saved = await download(s3, bucket, first, tmp_path / "first.db")
    assert restorable(saved, tmp_path) == parse_periodic(KEY, first).revision  # type: ignore[union-attr]
