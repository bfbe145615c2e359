"""Every Prometheus metric of the operator, in one registry, named as controller-runtime does.

Served by the manager's /metrics endpoint (`exposition()`). Work queues record through a
`WorkQueueMetrics` each; the in-flight gauges (unfinished work, longest running processor)
are computed at scrape time from the live queues rather than by a background ticker.
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from controller.runtime.clock import Clock

REGISTRY = CollectorRegistry()

# --- work queues (client-go / controller-runtime names; label `name` = queue name) ---------
_QUEUE_BUCKETS = tuple(1e-8 * 10**i for i in range(12))  # 10ns … 1000s, as controller-runtime

WORKQUEUE_DEPTH = Gauge(
    "workqueue_depth", "Current depth of workqueue", ["name"], registry=REGISTRY
)
WORKQUEUE_ADDS = Counter(
    "workqueue_adds", "Total number of adds handled by workqueue", ["name"], registry=REGISTRY
)
WORKQUEUE_QUEUE_DURATION = Histogram(
    "workqueue_queue_duration_seconds",
    "How long in seconds an item stays in workqueue before being requested",
    ["name"],
    buckets=_QUEUE_BUCKETS,
    registry=REGISTRY,
)
WORKQUEUE_WORK_DURATION = Histogram(
    "workqueue_work_duration_seconds",
    "How long in seconds processing an item from workqueue takes",
    ["name"],
    buckets=_QUEUE_BUCKETS,
    registry=REGISTRY,
)
WORKQUEUE_RETRIES = Counter(
    "workqueue_retries", "Total number of retries handled by workqueue", ["name"], registry=REGISTRY
)

# --- reconcilers (the manager records these) ------------------------------------------------
_RECONCILE_BUCKETS = (
    *(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7),
    *(0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15),
    *(20, 25, 30, 40, 50, 60),
)
RECONCILE_TOTAL = Counter(
    "controller_runtime_reconcile",
    "Total number of reconciliations per controller (result: success/error/requeue/requeue_after)",
    ["controller", "result"],
    registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    "controller_runtime_reconcile_errors",
    "Total number of reconciliation errors per controller",
    ["controller"],
    registry=REGISTRY,
)
RECONCILE_TIME = Histogram(
    "controller_runtime_reconcile_time_seconds",
    "Length of time per reconciliation per controller",
    ["controller"],
    buckets=_RECONCILE_BUCKETS,
    registry=REGISTRY,
)
ACTIVE_WORKERS = Gauge(
    "controller_runtime_active_workers",
    "Number of currently used workers per controller",
    ["controller"],
    registry=REGISTRY,
)
MAX_CONCURRENT_RECONCILES = Gauge(
    "controller_runtime_max_concurrent_reconciles",
    "Maximum number of concurrent reconciles per controller",
    ["controller"],
    registry=REGISTRY,
)

# --- leader election ------------------------------------------------------------------------
LEADER_ELECTION_MASTER_STATUS = Gauge(
    "leader_election_master_status",
    "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, "
    "1 indicates master. 'name' is the string used to identify the lease.",
    ["name"],
    registry=REGISTRY,
)


def exposition() -> tuple[bytes, str]:
    """The registry in Prometheus text format, with its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class WorkQueueMetrics:
    """Records one queue's metrics; mirrors client-go's queueMetrics bookkeeping."""

    def __init__(self, name: str, clock: Clock):
        self.name = name
        self._clock = clock
        self._added_at: dict[Hashable, float] = {}
        self._started_at: dict[Hashable, float] = {}
        self._depth = WORKQUEUE_DEPTH.labels(name)
        self._adds = WORKQUEUE_ADDS.labels(name)
        self._queue_duration = WORKQUEUE_QUEUE_DURATION.labels(name)
        self._work_duration = WORKQUEUE_WORK_DURATION.labels(name)
        self._retries = WORKQUEUE_RETRIES.labels(name)
        _LIVE_QUEUES.add(self)

    def added(self, item: Hashable) -> None:
        self._adds.inc()
        self._depth.inc()
        self._added_at.setdefault(item, self._clock.now())

    def got(self, item: Hashable) -> None:
        now = self._clock.now()
        self._depth.dec()
        if (added := self._added_at.pop(item, None)) is not None:
            self._queue_duration.observe(now - added)
        self._started_at[item] = now

    def done(self, item: Hashable) -> None:
        if (started := self._started_at.pop(item, None)) is not None:
            self._work_duration.observe(self._clock.now() - started)

    def dropped(self, item: Hashable) -> None:
        """A queued item thrown away at shutdown: no longer part of the depth."""
        self._depth.dec()
        self._added_at.pop(item, None)

    def retried(self) -> None:
        self._retries.inc()

    def in_flight(self) -> tuple[float, float]:
        """(total seconds of work in progress, longest single one)."""
        now = self._clock.now()
        ages = [now - started for started in list(self._started_at.values())]
        return sum(ages), max(ages, default=0.0)


class NoWorkQueueMetrics(WorkQueueMetrics):
    """For queues built with metrics=False: records nothing, touches no registry."""

    def __init__(self, name: str = "", clock: Clock | None = None):
        self.name = name

    def added(self, item: Hashable) -> None:
        pass

    def got(self, item: Hashable) -> None:
        pass

    def done(self, item: Hashable) -> None:
        pass

    def dropped(self, item: Hashable) -> None:
        pass

    def retried(self) -> None:
        pass

    def in_flight(self) -> tuple[float, float]:
        return 0.0, 0.0


_LIVE_QUEUES: weakref.WeakSet[WorkQueueMetrics] = weakref.WeakSet()


class _InFlightCollector(Collector):
    """workqueue_unfinished_work_seconds and workqueue_longest_running_processor_seconds."""

    def collect(self) -> Iterator[Metric]:
        totals: dict[str, float] = {}
        longest: dict[str, float] = {}
        for queue in list(_LIVE_QUEUES):
            total, oldest = queue.in_flight()
            totals[queue.name] = totals.get(queue.name, 0.0) + total
            longest[queue.name] = max(longest.get(queue.name, 0.0), oldest)
        unfinished = GaugeMetricFamily(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has done that is in progress and hasn't been observed by "
            "work_duration. Large values indicate stuck threads.",
            labels=["name"],
        )
        running = GaugeMetricFamily(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
            labels=["name"],
        )
        for name in sorted(totals):
            unfinished.add_metric([name], totals[name])
            running.add_metric([name], longest[name])
        yield unfinished
        yield running


REGISTRY.register(_InFlightCollector())

# --- added for several reconcilers: terminal errors, API requests, long tasks ---------------
TERMINAL_RECONCILE_ERRORS = Counter(
    "controller_runtime_terminal_reconcile_errors",
    "Total number of terminal reconciliation errors per controller (not retried)",
    ["controller"],
    registry=REGISTRY,
)
REST_CLIENT_REQUESTS = Counter(
    "rest_client_requests",
    "Number of HTTP requests to the API server, partitioned by status code, method, and host",
    ["code", "method", "host"],
    registry=REGISTRY,
)
REST_CLIENT_RATE_LIMITER_DURATION = Histogram(
    "rest_client_rate_limiter_duration_seconds",
    "Client side rate limiter latency in seconds, by verb",
    ["verb"],
    buckets=(0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0),
    registry=REGISTRY,
)
TASKS = Gauge(
    "controller_runtime_tasks",
    "Supervised long tasks by owner and state (running, done, failed, cancelled)",
    ["owner", "state"],
    registry=REGISTRY,
)
