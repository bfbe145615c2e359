"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's timing rules.

Only one operator replica reconciles at a time. A candidate takes the Lease when it is free
or expired; the leader renews it every retry period and gives up (cancelling its work) when
it cannot renew within the renew deadline, which is shorter than the lease duration so it
stops before anyone else may take over. Expiry is judged on the LOCAL monotonic clock from
the moment the record was last seen to change; remote timestamps are never trusted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from controller.clients.kube import LEASES, ApiError, KubeClient
from controller.runtime.clock import Clock, RealClock, with_timeout
from controller.runtime.metrics import LEADER_ELECTION_MASTER_STATUS

log = logging.getLogger(__name__)

JITTER_FACTOR = 1.2  # client-go: candidates retry after retry_period * (1 + rand * 1.2)


class LeaseConflict(Exception):
    """The Lease changed (or appeared, or vanished) since we read it."""


class LeadershipLost(Exception):
    """The leader could not renew its Lease in time; its work has been cancelled."""


@dataclass(frozen=True)
class LeaderElectionConfig:
    lease_name: str
    namespace: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.identity:
            raise ValueError("leader election needs a non-empty identity")
        check_timings(self.lease_duration, self.renew_deadline, self.retry_period)


def check_timings(lease_duration: float, renew_deadline: float, retry_period: float) -> None:
    """client-go's rule, raising ValueError: a leader gives up (renew deadline) before anyone
    may take over (lease duration), and has time for a few jittered retries before that."""
    if not lease_duration > renew_deadline:
        raise ValueError("lease_duration must be greater than renew_deadline")
    if not renew_deadline > JITTER_FACTOR * retry_period:
        raise ValueError("renew_deadline must be greater than retry_period * 1.2")
    if not retry_period > 0:
        raise ValueError("retry_period must be positive")


@dataclass(frozen=True)
class LeaseRecord:
    """A Lease's spec as plain data; holder_identity "" means nobody holds it."""

    holder_identity: str
    lease_duration_seconds: int
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    lease_transitions: int = 0
    resource_version: str | None = None

    def same_claim(self, other: LeaseRecord | None) -> bool:
        """Equal apart from resource_version (what client-go compares to detect a change)."""
        return other is not None and dataclasses.replace(
            self, resource_version=None
        ) == dataclasses.replace(other, resource_version=None)


class LeaseStore(Protocol):
    async def get(self) -> LeaseRecord | None: ...

    async def create(self, record: LeaseRecord) -> LeaseRecord:
        """Raises LeaseConflict if the Lease already exists."""
        ...

    async def update(self, record: LeaseRecord) -> LeaseRecord:
        """Replaces the Lease if its resource_version still matches, else LeaseConflict."""
        ...


class MemoryLeaseStore:
    """A LeaseStore in memory, with the API's optimistic concurrency; for tests."""

    def __init__(self) -> None:
        self.record: LeaseRecord | None = None
        self._version = 0

    async def get(self) -> LeaseRecord | None:
        return self.record

    async def create(self, record: LeaseRecord) -> LeaseRecord:
        if self.record is not None:
            raise LeaseConflict("lease exists")
        return self._store(record)

    async def update(self, record: LeaseRecord) -> LeaseRecord:
        if self.record is None or record.resource_version != self.record.resource_version:
            raise LeaseConflict("resource version changed")
        return self._store(record)

    def _store(self, record: LeaseRecord) -> LeaseRecord:
        self._version += 1
        self.record = dataclasses.replace(record, resource_version=str(self._version))
        return self.record


class KubeLeaseStore:
    """The Lease `namespace/name` on the API server."""

    def __init__(self, kube: KubeClient, namespace: str, name: str):
        self._kube = kube
        self.namespace = namespace
        self.name = name

    async def get(self) -> LeaseRecord | None:
        try:
            return lease_to_record(await self._kube.get(LEASES, self.name, self.namespace))
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    async def create(self, record: LeaseRecord) -> LeaseRecord:
        try:
            return lease_to_record(await self._kube.create(LEASES, self._lease(record)))
        except ApiError as exc:
            if exc.conflict:
                raise LeaseConflict(str(exc)) from exc
            raise

    async def update(self, record: LeaseRecord) -> LeaseRecord:
        try:
            return lease_to_record(await self._kube.replace(LEASES, self._lease(record)))
        except ApiError as exc:
            if exc.conflict or exc.not_found:
                raise LeaseConflict(str(exc)) from exc
            raise

    def _lease(self, record: LeaseRecord) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if record.resource_version:
            metadata["resourceVersion"] = record.resource_version
        return {
            "apiVersion": LEASES.api_version,
            "kind": LEASES.kind,
            "metadata": metadata,
            "spec": record_to_spec(record),
        }


def format_micro_time(value: datetime) -> str:
    """RFC3339 with microseconds, as the API's MicroTime: 2026-11-28T05:00:00.000000Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(UTC) if value else None


def record_to_spec(record: LeaseRecord) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "holderIdentity": record.holder_identity,
        "leaseDurationSeconds": record.lease_duration_seconds,
        "leaseTransitions": record.lease_transitions,
    }
    if record.acquire_time is not None:
        spec["acquireTime"] = format_micro_time(record.acquire_time)
    if record.renew_time is not None:
        spec["renewTime"] = format_micro_time(record.renew_time)
    return spec


def lease_to_record(lease: dict[str, Any]) -> LeaseRecord:
    spec = lease.get("spec") or {}
    return LeaseRecord(
        holder_identity=spec.get("holderIdentity") or "",
        lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=parse_micro_time(spec.get("acquireTime")),
        renew_time=parse_micro_time(spec.get("renewTime")),
        lease_transitions=int(spec.get("leaseTransitions") or 0),
        resource_version=lease.get("metadata", {}).get("resourceVersion"),
    )


class LeaderElector:
    def __init__(
        self,
        config: LeaderElectionConfig,
        store: LeaseStore,
        clock: Clock | None = None,
        *,
        rng: random.Random | None = None,
    ):
        self.config = config
        self._store = store
        self._clock = clock or RealClock()
        self._rng = rng or random.Random()
        self._observed: LeaseRecord | None = None  # the record as we last saw or wrote it
        self._observed_at = 0.0  # local monotonic time it last changed
        self._leading = False
        self._status = LEADER_ELECTION_MASTER_STATUS.labels(config.lease_name)
        self._status.set(0)

    @property
    def is_leader(self) -> bool:
        return self._leading

    @property
    def observed_record(self) -> LeaseRecord | None:
        return self._observed

    async def run(self, on_started_leading: Callable[[], Awaitable[None]]) -> None:
        """Acquires the lease, then runs `on_started_leading` while renewing it.

        Raises LeadershipLost (after cancelling the work) if a renewal does not succeed
        within renew_deadline. Returns once the work returns, releasing the lease. If this
        task is cancelled the lease is left to expire (call `release` to hand it over).
        """
        await self._acquire()
        work = asyncio.ensure_future(on_started_leading())
        renew = asyncio.ensure_future(self._renew_until_lost())
        try:
            await asyncio.wait({work, renew}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, renew):
                task.cancel()
            await asyncio.gather(work, renew, return_exceptions=True)
            if work.cancelled() or not renew.cancelled():
                self._set_leading(False)  # cancelled from outside, or lost
        lost = None if renew.cancelled() else renew.exception()
        if lost is not None:
            raise lost
        await self.release()
        if not work.cancelled():
            work.result()  # re-raise the work's own exception, if any

    async def release(self) -> None:
        """Gives the lease up (holder cleared) so a standby takes over without waiting.

        run() does this itself when the work returns; call it after cancelling run() (never
        while run() is still renewing). A lease held by someone else is left alone.
        """
        self._set_leading(False)
        try:
            current = await self._store.get()
            if current is None or current.holder_identity != self.config.identity:
                return
            now = self._clock.wall()
            released = LeaseRecord(
                holder_identity="",
                lease_duration_seconds=1,
                acquire_time=now,
                renew_time=now,
                lease_transitions=current.lease_transitions,
                resource_version=current.resource_version,
            )
            self._observe(await self._store.update(released))
        except Exception as exc:
            log.warning("releasing lease %s failed: %s", self.config.lease_name, exc)

    # --- internals --------------------------------------------------------------------------
    async def _acquire(self) -> None:
        while not await self._try_acquire_or_renew():
            jitter = self._rng.random() * JITTER_FACTOR * self.config.retry_period
            await self._clock.sleep(self.config.retry_period + jitter)
        log.info("%s acquired lease %s", self.config.identity, self.config.lease_name)

    async def _renew_until_lost(self) -> None:
        while True:
            await self._clock.sleep(self.config.retry_period)
            try:
                await with_timeout(self._clock, self.config.renew_deadline, self._renew_poll())
            except TimeoutError:
                self._set_leading(False)
                log.warning(
                    "%s failed to renew lease %s", self.config.identity, self.config.lease_name
                )
                raise LeadershipLost(
                    f"{self.config.identity} could not renew lease {self.config.lease_name} "
                    f"within {self.config.renew_deadline}s"
                ) from None

    async def _renew_poll(self) -> None:
        while not await self._try_acquire_or_renew():
            await self._clock.sleep(self.config.retry_period)

    async def _try_acquire_or_renew(self) -> bool:
        try:
            return await self._attempt()
        except LeaseConflict as exc:
            log.debug("lease %s changed under us: %s", self.config.lease_name, exc)
        except Exception as exc:
            log.warning("lease %s: %s", self.config.lease_name, exc)
        return False

    async def _attempt(self) -> bool:
        now = self._clock.wall()
        desired = LeaseRecord(
            holder_identity=self.config.identity,
            lease_duration_seconds=math.ceil(self.config.lease_duration),
            acquire_time=now,
            renew_time=now,
        )
        current = await self._store.get()
        if current is None:
            self._observe(await self._store.create(desired))
            self._set_leading(True)
            return True
        if not current.same_claim(self._observed):
            self._observe(current)
        holder = current.holder_identity
        if holder and holder != self.config.identity and self._observed_lease_valid():
            self._set_leading(False)
            return False
        if holder == self.config.identity:  # renewal (or re-acquiring our own record)
            desired = dataclasses.replace(
                desired,
                acquire_time=current.acquire_time,
                lease_transitions=current.lease_transitions,
            )
        else:  # taking over a free or expired lease
            desired = dataclasses.replace(desired, lease_transitions=current.lease_transitions + 1)
        desired = dataclasses.replace(desired, resource_version=current.resource_version)
        self._observe(await self._store.update(desired))
        self._set_leading(True)
        return True

    def _observed_lease_valid(self) -> bool:
        assert self._observed is not None
        return self._observed_at + self._observed.lease_duration_seconds > self._clock.now()

    def _observe(self, record: LeaseRecord) -> None:
        self._observed = record
        self._observed_at = self._clock.now()

    def _set_leading(self, leading: bool) -> None:
        self._leading = leading
        self._status.set(1 if leading else 0)
