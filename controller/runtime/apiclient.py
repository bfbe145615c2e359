"""Client-side throttling and request metrics for the API client, as client-go's rest client.

A token bucket (controller-runtime's defaults: 20 requests/s, bursts of 30) spaces the
operator's requests, so a storm of reconciles cannot flood the API server; the wait is
recorded as rest_client_rate_limiter_duration_seconds{verb}. Every request is counted in
rest_client_requests_total{code,method,host} ("<error>" when no answer came, as client-go).
`instrument` hooks both into a KubeClient (the client only offers hooks: it cannot import
the runtime).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from controller.clients.kube import KubeClient
from controller.runtime.clock import Clock, RealClock
from controller.runtime.metrics import REST_CLIENT_RATE_LIMITER_DURATION, REST_CLIENT_REQUESTS
from controller.runtime.ratelimit import BucketRateLimiter

log = logging.getLogger(__name__)

DEFAULT_QPS = 20.0
DEFAULT_BURST = 30
LONG_THROTTLE = 1.0  # seconds; a wait this long is logged, at most once per this interval


class Throttle:
    """Waits for a token before each request; a negative qps means no limit.

    Reservation semantics (BucketRateLimiter): once the burst is spent, each caller is
    given the next free slot, so concurrent callers queue up 1/qps apart.
    """

    def __init__(
        self, qps: float = DEFAULT_QPS, burst: int = DEFAULT_BURST, clock: Clock | None = None
    ):
        if qps == 0 or (qps > 0 and burst < 1):
            raise ValueError("a throttle needs qps != 0 and, when qps > 0, burst >= 1")
        self._clock = clock or RealClock()
        self._bucket = BucketRateLimiter(qps, burst, self._clock) if qps > 0 else None
        self._logged_at = float("-inf")

    async def wait(self, verb: str) -> None:
        started = self._clock.now()
        delay = self._bucket.when(verb) if self._bucket is not None else 0.0
        if delay > 0:
            await self._clock.sleep(delay)
        waited = self._clock.now() - started
        REST_CLIENT_RATE_LIMITER_DURATION.labels(verb).observe(waited)
        # Under sustained throttling every request waits: one line a second says it.
        if waited >= LONG_THROTTLE and self._clock.now() - self._logged_at >= LONG_THROTTLE:
            self._logged_at = self._clock.now()
            log.info("waited %.1fs for client-side throttling (%s)", waited, verb)


class RequestCounter:
    """Counts requests to one API server by status code and verb."""

    def __init__(self, url: str):
        self.host = urlsplit(url).netloc or url  # client-go's label: host[:port]

    def record(self, verb: str, status: int) -> None:
        code = str(status) if status else "<error>"
        REST_CLIENT_REQUESTS.labels(code, verb, self.host).inc()


def instrument(
    kube: KubeClient,
    *,
    qps: float = DEFAULT_QPS,
    burst: int = DEFAULT_BURST,
    clock: Clock | None = None,
) -> Throttle:
    """Throttles and counts every request `kube` makes; returns the throttle."""
    throttle = Throttle(qps, burst, clock)
    kube.instrument(throttle.wait, RequestCounter(kube.host).record)
    return throttle
