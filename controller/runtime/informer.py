"""Informer: keeps a Store equal to the API's view of one resource and reports every change.

The client-go reflector loop, in asyncio: a paginated list, then a watch from the list's
resourceVersion with bookmarks; reconnects with jittered back-off resume from the last seen
resourceVersion; a 410 (Gone/Expired, as an HTTP status or an ERROR event) forces a relist,
whose vanished objects are delivered as deletes carrying their last known state. Each watch
asks the server for a random timeout (spreading reconnects), and a watchdog restarts a watch
that has been silent for longer than the server's bookmark interval (a half-dead connection).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.clients.kube import ApiError, KubeClient, Resource
from controller.runtime.clock import Clock, RealClock
from controller.runtime.store import (
    ADDED,
    DELETED,
    MODIFIED,
    Delta,
    IndexFunc,
    Obj,
    Store,
    object_key,
    strip_managed_fields,
)

log = logging.getLogger(__name__)

# Called synchronously for every change: (event type, old object, new object). ADDED has no
# old, DELETED has no new (old is the final or last known state). Handlers must not block.
Handler = Callable[[str, Obj | None, Obj | None], None]


@dataclass(frozen=True)
class WatchTimings:
    """Every delay of the loop, injectable so tests need not wait for the real ones."""

    backoff_initial: float = 0.8
    backoff_max: float = 30.0
    timeout_min: int = 300  # the server closes each watch after a random time in this range
    timeout_max: int = 600
    inactivity: float = 70.0  # the API sends a bookmark about every minute
    page_size: int = 500
    min_watch_life: float = 1.0  # a watch closed sooner without events counts as a failure


class Backoff:
    """Exponential back-off with up to 100% jitter (client-go's reflector: 0.8 s → 30 s)."""

    def __init__(self, initial: float, maximum: float, rng: random.Random | None = None):
        self.initial, self.maximum = initial, maximum
        self._current = initial
        self._rng = rng or random.Random()

    def next(self) -> float:
        delay = min(self._current * (1.0 + self._rng.random()), self.maximum)
        self._current = min(self._current * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self._current = self.initial


@dataclass(frozen=True)
class InformerKey:
    """What makes two informers the same (and therefore shareable)."""

    resource: Resource
    namespace: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None


@dataclass
class InformerStats:
    lists: int = 0
    watches: int = 0
    events: int = 0
    relists_expired: int = 0
    watchdog_restarts: int = 0
    errors: int = 0


class ResourceExpired(Exception):
    """The resourceVersion we watch from is gone from the API's history: relist."""


class WatchError(Exception):
    """The stream reported an error other than expiry: back off, then watch again."""


def classify_error_event(status: Mapping[str, Any]) -> Exception:
    """The exception an ERROR watch event stands for (its object is a v1 Status)."""
    code = int(status.get("code") or 0)
    reason = str(status.get("reason") or "")
    causes = (status.get("details") or {}).get("causes") or []
    too_large = any(c.get("reason") == "ResourceVersionTooLarge" for c in causes)
    if code == 410 or reason in ("Expired", "Gone") or too_large:
        return ResourceExpired(f"{code} {reason}: {status.get('message', '')}")
    return WatchError(f"{code} {reason}: {status.get('message', '')}")


class Informer:
    """List+watch of one resource (optionally one namespace and selectors) into a Store."""

    def __init__(
        self,
        kube: KubeClient,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
        timings: WatchTimings | None = None,
        transform: Callable[[Obj], Obj] = strip_managed_fields,
        rng: random.Random | None = None,
        clock: Clock | None = None,
    ):
        self.kube = kube
        self.key = InformerKey(resource, namespace, label_selector, field_selector)
        self.store = Store(indexers)
        self.stats = InformerStats()
        self.timings = timings or WatchTimings()
        self._transform = transform
        self._rng = rng or random.Random()
        self._clock = clock or RealClock()
        self._handlers: list[Handler] = []
        self._synced = asyncio.Event()
        self._rv: str | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def resource(self) -> Resource:
        return self.key.resource

    @property
    def has_synced(self) -> bool:
        """True once the first list has been applied to the store (and ever after)."""
        return self._synced.is_set()

    @property
    def resource_version(self) -> str | None:
        return self._rv

    def add_handler(self, handler: Handler) -> None:
        """Registers a handler; one added after sync first sees every cached object as ADDED."""
        self._handlers.append(handler)
        if self.has_synced:
            for obj in self.store.items():
                self._call(handler, ADDED, None, obj)

    async def wait_synced(self, timeout: float | None = None) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self._synced.wait()
        except TimeoutError:
            return False
        return True

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"informer {self._describe()}")
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def run(self) -> None:
        """The reflector loop; runs until cancelled.

        A restarted informer (stop, then start) resumes watching from its last
        resourceVersion; if the API no longer has it, the 410 leads to a relist.
        """
        backoff = Backoff(self.timings.backoff_initial, self.timings.backoff_max, self._rng)
        need_list = not (self.has_synced and self._rv)
        while True:
            try:
                if need_list:
                    await self._list()
                    need_list = False
                await self._watch(backoff)
                backoff.reset()  # the watch ended normally (server timeout or watchdog)
                continue
            except asyncio.CancelledError:
                raise
            except ResourceExpired as exc:
                need_list = True
                self.stats.relists_expired += 1
                log.info("%s: %s; relisting", self._describe(), exc)
            except ApiError as exc:
                if needs_relist(exc):
                    need_list = True
                    self.stats.relists_expired += 1
                    log.info("%s: %s; relisting", self._describe(), exc)
                else:
                    self.stats.errors += 1
                    log.warning("%s: %s", self._describe(), exc)
            except Exception as exc:  # connection refused/reset, timeouts, bad JSON
                self.stats.errors += 1
                log.warning("%s: %s: %s", self._describe(), type(exc).__name__, exc)
            await self._clock.sleep(backoff.next())

    async def _list(self) -> None:
        res, ns = self.key.resource, self.key.namespace
        items: list[Obj] = []
        token: str | None = None
        while True:
            page = await self.kube.list(
                res,
                ns,
                label_selector=self.key.label_selector,
                field_selector=self.key.field_selector,
                limit=self.timings.page_size,
                continue_token=token,
            )
            items.extend(self.normalize(obj) for obj in page.get("items") or [])
            meta = page.get("metadata") or {}
            token = meta.get("continue") or None
            if not token:
                break
        self.apply_list(items, str(meta.get("resourceVersion") or ""))
        self.stats.lists += 1
        log.debug("%s: listed %d objects at %s", self._describe(), len(items), self._rv)

    def apply_list(self, items: list[Obj], resource_version: str) -> None:
        """Makes the store equal to a full list (normalized objects) and reports the deltas;
        objects missing from it are delivered as DELETED with their last known state."""
        deltas = self.store.replace(items)
        self._rv = resource_version or None
        self._synced.set()
        self._dispatch(deltas)

    async def _watch(self, backoff: Backoff) -> None:
        """One watch connection, from the last seen resourceVersion until it ends."""
        t = self.timings
        started = self._clock.now()
        got_events = False
        stream = self.kube.watch(
            self.key.resource,
            self.key.namespace,
            resource_version=self._rv,
            timeout_seconds=self._rng.randint(t.timeout_min, t.timeout_max),
            allow_bookmarks=True,
            label_selector=self.key.label_selector,
            field_selector=self.key.field_selector,
            read_timeout=t.inactivity + 5,  # backstop under the watchdog below
        )
        self.stats.watches += 1
        try:
            while True:
                try:  # the loop's time, not the clock's: a timer task per event costs too much
                    async with asyncio.timeout(t.inactivity):
                        event = await anext(stream)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    self.stats.watchdog_restarts += 1
                    log.info("%s: no event for %.0fs; rewatching", self._describe(), t.inactivity)
                    return
                self.apply_event(event)
                if not got_events:
                    got_events = True
                    backoff.reset()
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        if not got_events and self._clock.now() - started < t.min_watch_life:
            raise WatchError("watch closed immediately")

    def apply_event(self, event: Mapping[str, Any]) -> None:
        """Applies one watch event to the store and reports it; raises on ERROR events."""
        kind = str(event.get("type") or "")
        obj = event.get("object") or {}
        if kind == "ERROR":
            raise classify_error_event(obj)
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if kind == "BOOKMARK":
            self._rv = rv or self._rv
            return
        obj = self.normalize(obj)
        self.stats.events += 1
        if kind in (ADDED, MODIFIED):
            old = self.store.upsert(obj)
            self._dispatch([Delta(ADDED if old is None else MODIFIED, old, obj)])
        elif kind == DELETED:
            self.store.delete(object_key(obj))
            self._dispatch([Delta(DELETED, obj, None)])
        else:
            log.warning("%s: unknown watch event type %r", self._describe(), kind)
        self._rv = rv or self._rv

    def normalize(self, obj: Obj) -> Obj:
        """What the store keeps: kind/apiVersion filled in (list items lack them), then
        the transform (by default: managedFields dropped)."""
        obj.setdefault("kind", self.key.resource.kind)
        obj.setdefault("apiVersion", self.key.resource.api_version)
        return self._transform(obj)

    def _dispatch(self, deltas: list[Delta]) -> None:
        for delta in deltas:
            for handler in list(self._handlers):
                self._call(handler, delta.type, delta.old, delta.new)

    def _call(self, handler: Handler, kind: str, old: Obj | None, new: Obj | None) -> None:
        try:
            handler(kind, old, new)
        except Exception:  # one broken handler must not stop the cache
            log.exception("%s: handler %r failed on %s", self._describe(), handler, kind)

    def _describe(self) -> str:
        k = self.key
        selectors = ",".join(s for s in (k.label_selector, k.field_selector) if s)
        return f"{k.resource.plural}/{k.namespace or '*'}" + (f"[{selectors}]" if selectors else "")


def needs_relist(exc: ApiError) -> bool:
    """410, or a resourceVersion the API has not reached (e.g. after an etcd restore)."""
    if exc.gone:
        return True
    body = exc.body
    return isinstance(body, dict) and isinstance(classify_error_event(body), ResourceExpired)


__all__ = [
    "ADDED",
    "DELETED",
    "MODIFIED",
    "Backoff",
    "Handler",
    "Informer",
    "InformerKey",
    "InformerStats",
    "ResourceExpired",
    "WatchError",
    "WatchTimings",
    "classify_error_event",
    "needs_relist",
]
