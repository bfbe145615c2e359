"""The manager: shared informers, one queue and N workers per controller, leader election.

Wiring a controller (what each reconciler package's `setup(manager, options)` does):

    mgr = Manager(kube, namespace=None)                  # None: all namespaces
    mgr.informer_for(PODS, label_selector="app=x")       # narrow what is cached, once per kind
    rec = ClusterReconciler(mgr.cache, mgr.kube)         # has .name and async reconcile(key)
    mgr.add_controller(rec, workers=2) \\
        .watch(ETCD_CLUSTERS, to_self) \\
        .watch(PODS, to_owner("EtcdCluster"))
    await mgr.run()                                      # until stop() or LeadershipLost

Informers are shared: one per kind, however many controllers watch or read it; a kind is
declared by watching it or with `informer_for`, and reading an undeclared kind raises.
Long work runs on `mgr.tasks` (controller.runtime.tasks), cancelled with the workers.
Informers run on standbys too (warm caches make failover fast); workers run only
while this process holds the leader lease. On LeadershipLost all work is cancelled and
`run` raises; the process must exit (a deposed leader must not keep acting).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from controller.clients.kube import KubeClient, Resource
from controller.runtime.cache import Cache
from controller.runtime.clock import Clock, RealClock
from controller.runtime.handler import Mapper, Predicate, to_self
from controller.runtime.informer import Informer, WatchTimings
from controller.runtime.leader import KubeLeaseStore, LeaderElectionConfig, LeaderElector
from controller.runtime.logs import log_context, new_reconcile_id
from controller.runtime.metrics import (
    ACTIVE_WORKERS,
    MAX_CONCURRENT_RECONCILES,
    RECONCILE_ERRORS,
    RECONCILE_TIME,
    RECONCILE_TOTAL,
    TERMINAL_RECONCILE_ERRORS,
)
from controller.runtime.reconcile import Reconciler, TerminalError
from controller.runtime.store import IndexFunc, Obj
from controller.runtime.tasks import Tasks, TaskStatus, Work
from controller.runtime.workqueue import WorkQueue

log = logging.getLogger(__name__)
SLOW_RECONCILE = 1.0  # seconds; a pass this long is logged (it holds a worker)


class Controller:
    """One reconciler with its queue and workers; `watch` says which events enqueue what."""

    def __init__(self, manager: Manager, reconciler: Reconciler, workers: int):
        self.name = reconciler.name
        self.reconciler = reconciler
        self.workers = workers
        self.queue: WorkQueue[str] = WorkQueue(self.name, clock=manager.clock)
        self._mgr = manager

    def watch(
        self,
        res: Resource,
        mapper: Mapper = to_self,
        *,
        predicate: Predicate | None = None,
    ) -> Controller:
        """Enqueues mapper(event) for every event on `res` that passes `predicate`."""

        def handle(event_type: str, old: Obj | None, new: Obj | None) -> None:
            if predicate is not None and not predicate(event_type, old, new):
                return
            for key in mapper(event_type, old, new):
                self.queue.add(key)

        self._mgr.informer_for(res).add_handler(handle)
        return self

    async def run_workers(self) -> None:
        """Runs the workers until the queue is shut down (or this task is cancelled)."""
        MAX_CONCURRENT_RECONCILES.labels(self.name).set(self.workers)
        log.info("starting %d workers", self.workers, extra={"controller": self.name})
        await asyncio.gather(*(self._worker() for _ in range(self.workers)))

    async def _worker(self) -> None:
        while (key := await self.queue.get()) is not None:
            try:
                await self.reconcile_once(key)
            finally:
                self.queue.done(key)

    async def reconcile_once(self, key: str) -> None:
        """One pass for `key`, its outcome applied to the queue and the metrics."""
        active = ACTIVE_WORKERS.labels(self.name)
        with log_context(controller=self.name, key=key, reconcile_id=new_reconcile_id()):
            active.inc()
            started = self._mgr.clock.now()
            try:
                result = await self.reconciler.reconcile(key)
            except TerminalError as exc:
                self._count("error")
                TERMINAL_RECONCILE_ERRORS.labels(self.name).inc()
                log.error("reconcile failed, not retrying: %s", exc)
                self.queue.forget(key)
            except Exception as exc:
                self._count("error", error=True)
                log.error("reconcile failed: %s", exc, exc_info=exc)
                self.queue.add_rate_limited(key)
            else:
                if result.requeue_after is not None and result.requeue_after > 0:
                    self._count("requeue_after")
                    self.queue.forget(key)
                    self.queue.add_after(key, result.requeue_after)
                elif result.requeue:
                    self._count("requeue")
                    self.queue.add_rate_limited(key)
                else:
                    self._count("success")
                    self.queue.forget(key)
            finally:
                took = self._mgr.clock.now() - started
                RECONCILE_TIME.labels(self.name).observe(took)
                active.dec()
                if took >= SLOW_RECONCILE:
                    log.info("slow reconcile: %.2fs", took, extra={"seconds": round(took, 2)})

    def ensure_task(self, task: str, key: str, work: Work) -> TaskStatus:
        """Long work `task` for the object `key` (see controller.runtime.tasks): started
        once, its end enqueues `key` so the reconciler sees the outcome."""
        return self._mgr.tasks.ensure(
            task, work, owner=self.name, on_end=lambda _status: self.queue.add(key)
        )

    def _count(self, result: str, error: bool = False) -> None:
        RECONCILE_TOTAL.labels(self.name, result).inc()
        if error:
            RECONCILE_ERRORS.labels(self.name).inc()


class Manager:
    """Owns the client, the shared informers and the controllers of one operator process."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        namespace: str | None = None,
        leader_election: LeaderElectionConfig | None = None,
        timings: WatchTimings | None = None,
        graceful_shutdown_timeout: float = 30.0,
        clock: Clock | None = None,
    ):
        """namespace None watches all namespaces."""
        self.kube = kube
        self.namespace = namespace
        self.clock = clock or RealClock()
        self.cache = Cache(self)
        self.tasks = Tasks(self.clock)
        self.controllers: list[Controller] = []
        self.graceful_shutdown_timeout = graceful_shutdown_timeout
        self._timings = timings
        self._election = leader_election
        self._elector: LeaderElector | None = None
        self._informers: dict[Resource, Informer] = {}
        self._stopping = asyncio.Event()
        self._running = False
        self._workers_started = False

    # --- setup ------------------------------------------------------------------------------
    def informer_for(self, res: Resource, *, label_selector: str | None = None) -> Informer:
        """The shared informer of `res` in the manager's scope, created on first use.

        The first declaration fixes the kind's label selector (what is cached at all);
        declaring the same kind with another selector is an error, since every reader of
        the kind shares the one cache.
        """
        informer = self._informers.get(res)
        if informer is not None:
            if label_selector is not None and informer.key.label_selector != label_selector:
                raise ValueError(
                    f"{res.plural} is cached with selector {informer.key.label_selector!r}; "
                    f"cannot also use {label_selector!r}"
                )
            return informer
        namespace = self.namespace if res.namespaced else None
        informer = Informer(
            self.kube, res, namespace, label_selector=label_selector, timings=self._timings
        )
        self._informers[res] = informer
        if self._running:
            informer.start()
        return informer

    def watched_informer(self, res: Resource) -> Informer | None:
        """The informer of `res` if some controller declared it (what the cache reads)."""
        return self._informers.get(res)

    def add_index(self, res: Resource, name: str, func: IndexFunc) -> None:
        """An extra index on the cache of `res` (besides by namespace), read with
        `cache.by_index(res, name, value)`."""
        self.informer_for(res).store.add_index(name, func)

    def add_controller(self, reconciler: Reconciler, *, workers: int = 1) -> Controller:
        controller = Controller(self, reconciler, workers)
        self.controllers.append(controller)
        return controller

    # --- state ------------------------------------------------------------------------------
    @property
    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    @property
    def synced(self) -> bool:
        """Every informer has applied its first list (what /readyz reports)."""
        return all(inf.has_synced for inf in self._informers.values())

    @property
    def leader_election(self) -> LeaderElectionConfig | None:
        return self._election

    @property
    def is_leader(self) -> bool:
        return self._election is None or (self._elector is not None and self._elector.is_leader)

    @property
    def workers_started(self) -> bool:
        return self._workers_started

    # --- running ----------------------------------------------------------------------------
    def stop(self) -> None:
        """Asks `run` to finish gracefully (drain queues, release the lease); safe anywhere."""
        self._stopping.set()

    async def run(self) -> None:
        """Runs until stop(); raises LeadershipLost (after cancelling all work) if deposed."""
        self._running = True
        for informer in self._informers.values():
            informer.start()
        try:
            if self._election is None:
                await self._lead()
            else:
                await self._run_elected(self._election)
        finally:
            for informer in self._informers.values():
                await informer.stop()
            self._running = False

    async def _run_elected(self, config: LeaderElectionConfig) -> None:
        store = KubeLeaseStore(self.kube, config.namespace, config.lease_name)
        elector = self._elector = LeaderElector(config, store, self.clock)
        election = asyncio.create_task(elector.run(self._lead), name="leader-election")
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({election, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if election.done():
                election.result()  # LeadershipLost propagates
                return
            # stop() while waiting for the lease (cancel the attempt) or while leading
            # (_lead drains and returns, then the elector releases the lease).
            if not self._workers_started:
                election.cancel()
            try:
                async with asyncio.timeout(self.graceful_shutdown_timeout + 5):
                    await asyncio.gather(election, return_exceptions=True)
            except TimeoutError:
                election.cancel()
            await elector.release()
            if election.done() and not election.cancelled() and election.exception():
                raise election.exception()  # type: ignore[misc]
        finally:
            for task in (election, stopping):
                task.cancel()
            await asyncio.gather(election, stopping, return_exceptions=True)

    async def _lead(self) -> None:
        """Waits for the caches, runs every controller's workers until stop(), drains."""
        if not await self._until_stopped(self._wait_synced()):
            return
        log.info("caches synced; starting %d controllers", len(self.controllers))
        self._workers_started = True
        self.tasks.open()
        workers = [
            asyncio.create_task(c.run_workers(), name=f"workers {c.name}") for c in self.controllers
        ]
        try:
            await self._stopping.wait()
            await self._drain(workers)
        finally:
            for task in workers:
                task.cancel()  # LeadershipLost cancels us: no reconcile may outlive the lease
            await asyncio.gather(*workers, return_exceptions=True)
            # Nor may long work: the next leader resumes it from what it recorded.
            await asyncio.shield(self.tasks.cancel_all())
            self._workers_started = False

    async def _drain(self, workers: list[asyncio.Task[None]]) -> None:
        """Stops handing out work and waits (bounded) for reconciles in flight."""
        log.info("stopping: draining %d queues", len(self.controllers))
        try:
            async with asyncio.timeout(self.graceful_shutdown_timeout):
                await asyncio.gather(*(c.queue.shut_down_with_drain() for c in self.controllers))
                await asyncio.gather(*workers, return_exceptions=True)
        except TimeoutError:
            log.warning("graceful shutdown timed out; cancelling reconciles")

    async def _wait_synced(self) -> None:
        while not self.synced:
            await asyncio.gather(*(inf.wait_synced() for inf in self.informers))

    async def _until_stopped(self, work: Coroutine[Any, Any, None]) -> bool:
        """Awaits `work` unless stop() comes first; True if the work finished."""
        task = asyncio.ensure_future(work)
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (task, stopping):
                t.cancel()
            await asyncio.gather(task, stopping, return_exceptions=True)
        return task.done() and not task.cancelled() and task.exception() is None


__all__ = ["Cache", "Controller", "Manager"]
