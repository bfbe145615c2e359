"""API client throttling and request metrics: the token bucket on a FakeClock, and the
KubeClient hooks around requests and watches (the client's transport is scripted)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from controller.clients.kube import CONFIGMAPS, ApiError, KubeClient
from controller.runtime.apiclient import DEFAULT_BURST, DEFAULT_QPS, Throttle, instrument
from controller.runtime.clock import FakeClock, settle_loop
from controller.runtime.metrics import REGISTRY

HOST = "https://10.9.8.7:6443"


def waited(verb: str) -> tuple[float, float]:
    """(count, sum) of rest_client_rate_limiter_duration_seconds for `verb`."""
    labels = {"verb": verb}
    count = REGISTRY.get_sample_value("rest_client_rate_limiter_duration_seconds_count", labels)
    total = REGISTRY.get_sample_value("rest_client_rate_limiter_duration_seconds_sum", labels)
    return count or 0.0, total or 0.0


def requests(code: str, method: str, host: str = "10.9.8.7:6443") -> float:
    labels = {"code": code, "method": method, "host": host}
    return REGISTRY.get_sample_value("rest_client_requests_total", labels) or 0.0


async def start_all(throttle: Throttle, verb: str, n: int) -> list[asyncio.Task[None]]:
    tasks = [asyncio.create_task(throttle.wait(verb)) for _ in range(n)]
    await settle_loop()
    return tasks


def finished(tasks: list[asyncio.Task[None]]) -> int:
    return sum(t.done() for t in tasks)


async def test_a_burst_passes_then_requests_are_spaced_by_qps() -> None:
    clock = FakeClock()
    throttle = Throttle(qps=2.0, burst=3, clock=clock)
    count_before, sum_before = waited("T1")
    tasks = await start_all(throttle, "T1", 5)
    assert finished(tasks) == 3
    await clock.run_for(0.49)
    assert finished(tasks) == 3
    await clock.run_for(0.01)
    assert finished(tasks) == 4  # the 4th waited 1/qps
    await clock.run_for(0.5)
    assert finished(tasks) == 5  # the 5th queued behind it
    count, total = waited("T1")
    assert count - count_before == 5  # zero waits are observed too, as client-go does
    assert total - sum_before == pytest.approx(0.5 + 1.0)


async def test_controller_runtime_defaults_are_20_qps_burst_30() -> None:
    clock = FakeClock()
    throttle = Throttle(clock=clock)
    assert (DEFAULT_QPS, DEFAULT_BURST) == (20.0, 30)
    tasks = await start_all(throttle, "T2", 31)
    assert finished(tasks) == 30
    await clock.run_for(0.05)
    assert finished(tasks) == 31


async def test_the_bucket_refills_with_time() -> None:
    clock = FakeClock()
    throttle = Throttle(qps=10.0, burst=2, clock=clock)
    assert finished(await start_all(throttle, "T3", 2)) == 2
    clock.advance(0.2)  # two tokens back
    assert finished(await start_all(throttle, "T3", 2)) == 2


async def test_negative_qps_never_waits() -> None:
    clock = FakeClock()
    throttle = Throttle(qps=-1, clock=clock)
    assert finished(await start_all(throttle, "T4", 500)) == 500


@pytest.mark.parametrize(("qps", "burst"), [(0, 10), (5, 0)])
def test_invalid_settings(qps: float, burst: int) -> None:
    with pytest.raises(ValueError):
        Throttle(qps, burst)


class Answer:
    """What the scripted transport returns: an aiohttp-like response."""

    def __init__(self, status: int, body: bytes = b"{}", lines: list[bytes] | None = None):
        self.status = status
        self._body = body
        self._lines = list(lines or [])
        self.content = self

    async def __aenter__(self) -> Answer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def read(self) -> bytes:
        return self._body

    async def readline(self) -> bytes:
        return self._lines.pop(0) if self._lines else b""


class ScriptedApi:
    """Stands in for kubernetes_asyncio's ApiClient: answers call_api from a script."""

    def __init__(self, *answers: Answer | Exception, log: list[Any] | None = None):
        self.configuration = SimpleNamespace(host=HOST)
        self.answers = list(answers)
        self.log = log if log is not None else []

    async def call_api(self, path: str, method: str, **_: Any) -> Answer:
        self.log.append(("send", method))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client(api: ScriptedApi) -> KubeClient:
    return KubeClient(api)  # type: ignore[arg-type]


async def test_hooks_wrap_every_request_with_its_verb_and_status() -> None:
    log: list[Any] = []
    api = ScriptedApi(
        Answer(200), Answer(404, b'{"reason": "NotFound"}'), OSError("reset"), log=log
    )
    kube = client(api)

    async def before(verb: str) -> None:
        log.append(("before", verb))

    kube.instrument(before, lambda verb, status: log.append(("after", verb, status)))
    await kube.get(CONFIGMAPS, "a", "ns")
    with pytest.raises(ApiError):
        await kube.delete(CONFIGMAPS, "a", "ns")
    with pytest.raises(OSError):
        await kube.patch(CONFIGMAPS, "a", {}, "ns")
    assert log == [
        ("before", "GET"),
        ("send", "GET"),
        ("after", "GET", 200),
        ("before", "DELETE"),
        ("send", "DELETE"),
        ("after", "DELETE", 404),
        ("before", "PATCH"),
        ("send", "PATCH"),
        ("after", "PATCH", 0),  # no answer
    ]


async def test_instrumented_client_counts_requests_by_code_method_and_host() -> None:
    api = ScriptedApi(Answer(201), Answer(409, b'{"reason": "Conflict"}'), TimeoutError())
    kube = client(api)
    instrument(kube, qps=-1)
    before = [requests("201", "POST"), requests("409", "PUT"), requests("<error>", "GET")]
    await kube.create(CONFIGMAPS, {"metadata": {"name": "a"}}, "ns")
    with pytest.raises(ApiError):
        await kube.replace(CONFIGMAPS, {"metadata": {"name": "a", "namespace": "ns"}})
    with pytest.raises(TimeoutError):
        await kube.get(CONFIGMAPS, "a", "ns")
    after = [requests("201", "POST"), requests("409", "PUT"), requests("<error>", "GET")]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1]


async def test_a_watch_is_throttled_and_counted_at_its_start_only() -> None:
    clock = FakeClock()
    events = [b'{"type": "ADDED", "object": {}}\n'] * 5
    api = ScriptedApi(Answer(200, lines=events), Answer(200))
    kube = client(api)
    instrument(kube, qps=1.0, burst=1, clock=clock)
    counted = requests("200", "GET")
    stream = kube.watch(CONFIGMAPS, "ns")
    got = [event async for event in stream]  # the clock stands still: no line waits
    assert len(got) == 5
    assert requests("200", "GET") - counted == 1
    # The watch's start took the only token: the next request waits for a new one.
    follow = asyncio.create_task(kube.get(CONFIGMAPS, "a", "ns"))
    await settle_loop()
    assert not follow.done()
    await clock.run_for(1.0)
    await asyncio.wait_for(follow, 10)
    assert requests("200", "GET") - counted == 2
