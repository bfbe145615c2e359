"""The informer against the real API server: its cache converges to the API's state.

Every test compares the informer's store (and the state rebuilt from the events handed to
handlers) with a fresh list, polling until they agree: under a burst of writes, across a
kube-apiserver restart, and across a 410 that forces a relist.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from controller.clients.kube import CONFIGMAPS, ApiError, KubeClient, Resource
from controller.runtime.informer import Informer, WatchTimings
from controller.runtime.store import DELETED, Obj, object_key

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STORE = "http://127.0.0.1:12379"
# Quick reconnects, so a test does not wait out a 30 s back-off after the API comes back.
FAST = WatchTimings(backoff_max=3.0, page_size=25)

State = dict[str, str]  # key -> resourceVersion


class Recorder:
    """Rebuilds the state from handler events alone, and keeps the deletes it saw."""

    def __init__(self) -> None:
        self.state: State = {}
        self.deleted: dict[str, Obj] = {}

    def __call__(self, event_type: str, old: Obj | None, new: Obj | None) -> None:
        if event_type == DELETED:
            assert old is not None and new is None
            self.state.pop(object_key(old), None)
            self.deleted[object_key(old)] = old
        else:
            assert new is not None
            self.state[object_key(new)] = new["metadata"]["resourceVersion"]


async def api_state(kube: KubeClient, res: Resource, ns: str) -> State:
    listed = await kube.list(res, ns)
    return {object_key(o): o["metadata"]["resourceVersion"] for o in listed["items"]}


def store_state(informer: Informer) -> State:
    return {object_key(o): o["metadata"]["resourceVersion"] for o in informer.store.items()}


async def converges(
    kube: KubeClient, informer: Informer, recorder: Recorder, ns: str, timeout: float = 120
) -> State:
    """Polls until store, events and a fresh list agree; returns that state."""
    last: tuple[State, State, State] = ({}, {}, {})
    async with asyncio.timeout(timeout):
        while True:
            try:
                expected = await api_state(kube, informer.resource, ns)
            except (ApiError, OSError, TimeoutError):
                await asyncio.sleep(1)
                continue
            last = (expected, store_state(informer), dict(recorder.state))
            if last[0] == last[1] == last[2]:
                return expected
            await asyncio.sleep(0.5)
    raise AssertionError(f"never converged: {last}")  # pragma: no cover


@pytest.fixture
async def informer(kube: KubeClient, namespace: str) -> AsyncIterator[tuple[Informer, Recorder]]:
    inf = Informer(kube, CONFIGMAPS, namespace, timings=FAST)
    recorder = Recorder()
    inf.add_handler(recorder)
    inf.start()
    try:
        assert await inf.wait_synced(60), "informer never synced"
        yield inf, recorder
    finally:
        await inf.stop()


async def retrying(op: Callable[[], Awaitable[object]], attempts: int = 120) -> None:
    """Runs one write, retrying while the API is away; a 404/409 means it already landed."""
    for _ in range(attempts):
        try:
            await op()
            return
        except ApiError as exc:
            if exc.status in (404, 409):
                return
            await asyncio.sleep(0.5)
        except Exception:  # connection refused or reset while the API server restarts
            await asyncio.sleep(0.5)
    raise AssertionError("write kept failing")


def cm(ns: str, name: str, value: int) -> Obj:
    return {"metadata": {"name": name, "namespace": ns}, "data": {"v": str(value)}}


async def churn(kube: KubeClient, ns: str, ops: int, seed: int, prefix: str = "cm") -> None:
    """`ops` random creates, updates and deletes over a pool of names, 8 at a time."""
    rng = random.Random(seed)
    names = [f"{prefix}-{i}" for i in range(ops // 3)]
    sem = asyncio.Semaphore(8)

    async def one(i: int) -> None:
        name, roll = rng.choice(names), rng.random()
        async with sem:
            if roll < 0.45:
                await retrying(lambda: kube.create(CONFIGMAPS, cm(ns, name, i)))
            elif roll < 0.8:
                patch = {"data": {"v": str(i)}}
                await retrying(lambda: kube.patch(CONFIGMAPS, name, patch, ns))
            else:
                await retrying(lambda: kube.delete(CONFIGMAPS, name, ns))

    await asyncio.gather(*(one(i) for i in range(ops)))


async def control_plane(*args: str) -> None:
    proc = await asyncio.to_thread(
        subprocess.run,
        [str(ROOT / "hack/control-plane.sh"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr


def compact_api_store(revision: str) -> None:
    subprocess.run(
        [str(ROOT / ".local/bin/etcdctl"), "--endpoints", STORE, "compaction", revision],
        check=True,
        capture_output=True,
        timeout=60,
    )


async def test_paginated_list_then_burst_of_500_changes(kube: KubeClient, namespace: str) -> None:
    # 120 objects before the informer starts: its first list takes 5 pages of 25.
    await asyncio.gather(
        *(kube.create(CONFIGMAPS, cm(namespace, f"pre-{i}", i)) for i in range(120))
    )
    inf = Informer(kube, CONFIGMAPS, namespace, timings=FAST)
    recorder = Recorder()
    inf.add_handler(recorder)
    inf.start()
    try:
        assert await inf.wait_synced(60)
        assert len(inf.store) >= 120  # plus kube-root-ca.crt
        await churn(kube, namespace, 500, seed=1)
        state = await converges(kube, inf, recorder, namespace)
        assert len(state) > 120
        stored = inf.store.get(f"{namespace}/pre-0")
        assert stored is not None and "managedFields" not in stored["metadata"]
        assert stored["kind"] == "ConfigMap"
        assert inf.stats.lists == 1 and inf.stats.relists_expired == 0
    finally:
        await inf.stop()


async def test_watchdog_restarts_a_silent_watch_without_relisting(
    kube: KubeClient, namespace: str
) -> None:
    timings = WatchTimings(inactivity=2.0, backoff_max=3.0)
    inf = Informer(kube, CONFIGMAPS, namespace, timings=timings)
    recorder = Recorder()
    inf.add_handler(recorder)
    inf.start()
    try:
        assert await inf.wait_synced(60)
        async with asyncio.timeout(60):
            while inf.stats.watchdog_restarts < 2:  # noqa: ASYNC110 (polling a counter)
                await asyncio.sleep(0.5)
        await kube.create(CONFIGMAPS, cm(namespace, "after-silence", 1))
        state = await converges(kube, inf, recorder, namespace)
        assert f"{namespace}/after-silence" in state
        assert inf.stats.lists == 1  # resumed from the last resourceVersion each time
    finally:
        await inf.stop()


async def test_apiserver_restart_mid_watch_loses_no_event(
    kube: KubeClient, namespace: str, informer: tuple[Informer, Recorder]
) -> None:
    inf, recorder = informer
    restarted = asyncio.Event()

    async def writer() -> None:  # keeps writing before, during and after the restart
        for round_ in range(1000):
            await churn(kube, namespace, 60, seed=round_)
            if restarted.is_set():
                return

    writing = asyncio.create_task(writer())
    await asyncio.sleep(2)
    await control_plane("restart", "kube-apiserver")
    restarted.set()
    await writing
    await churn(kube, namespace, 60, seed=3, prefix="after")
    await converges(kube, inf, recorder, namespace)
    assert inf.stats.watches >= 2  # the watch really was cut and resumed


async def test_410_on_a_compacted_resource_version_relists_with_tombstones(
    kube: KubeClient, namespace: str, informer: tuple[Informer, Recorder]
) -> None:
    inf, recorder = informer
    await asyncio.gather(
        *(kube.create(CONFIGMAPS, cm(namespace, f"old-{i}", i)) for i in range(30))
    )
    await converges(kube, inf, recorder, namespace)
    stale_rv = inf.resource_version
    assert stale_rv

    # The informer stops (keeping its store and resourceVersion); meanwhile objects are
    # deleted, changed and created, etcd is compacted past all of it, and the API server
    # restarts so its watch cache no longer holds the old resourceVersion either (the
    # cache alone would serve it even after compaction).
    await inf.stop()
    await asyncio.gather(*(kube.delete(CONFIGMAPS, f"old-{i}", namespace) for i in range(10)))
    await asyncio.gather(
        *(
            kube.patch(CONFIGMAPS, f"old-{i}", {"data": {"v": "x"}}, namespace)
            for i in range(10, 20)
        )
    )
    await asyncio.gather(
        *(kube.create(CONFIGMAPS, cm(namespace, f"new-{i}", i)) for i in range(10))
    )
    head = (await kube.list(CONFIGMAPS, namespace))["metadata"]["resourceVersion"]
    compact_api_store(head)
    await control_plane("restart", "kube-apiserver")

    inf.start()  # resumes the watch from stale_rv: the API answers 410
    state = await converges(kube, inf, recorder, namespace)
    assert inf.stats.relists_expired >= 1 and inf.stats.lists >= 2
    assert not {f"{namespace}/old-{i}" for i in range(10)} & set(state)
    for i in range(10):  # the deletes missed while away came as tombstones
        tombstone = recorder.deleted[f"{namespace}/old-{i}"]
        assert tombstone["data"] == {"v": str(i)}  # the last state the cache had known
