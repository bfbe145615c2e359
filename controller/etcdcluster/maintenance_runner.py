"""Applies the maintenance planner's steps (maintenance.py) to one cluster, one at a time, as
supervised long work (controller.runtime.tasks), observing the cluster again after each.

One step at a time by construction: the runner applies a step, observes again, plans again.
It defragments through a channel of its own (not the pool's, which the reconciler's
observation may drop while a busy member is slow to answer), and stops at the first Nothing,
at an etcd failure, or when a member it defragmented is due again (no progress).

Cancel-safe: a step is one etcd call. A defragmentation cut off by cancellation carries on
or ends inside etcd, harmlessly; a compaction or disarm either happened or did not, and the
next run observes which. Every finished step is reported through `on_step` as it ends, so
nothing done is lost to a cancellation, and the returned report lists them all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from api.cluster import MaintenancePolicy
from controller.clients.etcd import (
    DEFRAGMENT_TIMEOUT,
    Compacted,
    Endpoint,
    EndpointStatus,
    EtcdClient,
    EtcdClientError,
    EtcdPool,
    TLSMaterial,
)
from controller.etcdcluster.maintenance import (
    CATCH_UP_RETRY,
    CATCHING_UP,
    FRAGMENTED,
    NO_PROGRESS,
    ClusterState,
    Compact,
    Defragment,
    Disarm,
    Nothing,
    Step,
    human_size,
    plan,
    state_from,
)
from controller.runtime.clock import Clock, RealClock

log = logging.getLogger(__name__)

# How long a physical compaction may take: it rewrites the index of a whole database.
COMPACT_TIMEOUT = 120.0
MAX_STEPS = 64  # a cluster of 7 members with every rule firing needs fewer than 20
CATCH_UP_WAIT = 30.0  # how long the runner waits for one before it gives up for this run


@dataclass(frozen=True)
class Done:
    """A step the runner applied. `reason` and `message` are made for an Event (Normal):
    Defragmented, Compacted, AlarmDisarmed."""

    step: Defragment | Compact | Disarm
    reason: str
    message: str
    took: float  # seconds
    db_size_before: int | None = None  # Defragment: the member's dbSize before ...
    db_size_after: int | None = None  # ... and after (None when it did not answer)


@dataclass(frozen=True)
class MaintenanceReport:
    """What a run did and why it stopped: `outcome` is the planner's last Nothing (or the
    runner's NoProgress), `error` the etcd failure that ended it instead."""

    done: tuple[Done, ...] = ()
    outcome: Nothing | None = None
    error: str | None = None
    finished: float = 0.0  # the runner's clock when it stopped
    state: ClusterState = field(default_factory=ClusterState)  # the last observation

    @property
    def defragmented(self) -> bool:
        """A defragmentation round happened: `finished` is the new `last_round`."""
        return any(
            isinstance(d.step, Defragment) and d.step.reason == FRAGMENTED for d in self.done
        )

    @property
    def disarmed(self) -> bool:
        """A NOSPACE alarm was disarmed: writes work again."""
        return any(isinstance(d.step, Disarm) for d in self.done)


async def observe_cluster(
    pool: EtcdPool, endpoints: Sequence[Endpoint], tls: TLSMaterial | None
) -> tuple[ClusterState, dict[int, Endpoint]]:
    """The planner's view from the members themselves, and each answering member's endpoint
    by member ID: the member list (linearizable), every endpoint's status, and the alarm
    list from the leader (a linearizable read)."""
    try:
        _, members = await pool.member_list(endpoints, tls)
    except EtcdClientError as exc:
        return ClusterState(problem=f"no member list: {exc}"), {}
    answers = await pool.statuses(endpoints, tls)
    by_id = {s.member_id: (e, s) for e, s in answers.items() if isinstance(s, EndpointStatus)}
    state = state_from((m, by_id[m.id][1] if m.id in by_id else None) for m in members)
    where = {member_id: endpoint for member_id, (endpoint, _) in by_id.items()}
    leader = state.leader
    if leader is not None and leader.id in where:
        try:
            alarms = await pool.ask(where[leader.id], tls, EtcdClient.alarm_list)
        except EtcdClientError as exc:
            return ClusterState(state.members, problem=f"no alarm list: {exc}"), where
        order = sorted(set(alarms), key=lambda a: (a.alarm, a.member_id))
        state = ClusterState(state.members, tuple(order), state.revision)
    return state, where


async def run_maintenance(
    pool: EtcdPool,
    endpoints: Sequence[Endpoint],
    tls: TLSMaterial | None,
    policy: MaintenancePolicy | None,
    *,
    last_round: float | None = None,
    clock: Clock | None = None,
    on_step: Callable[[Done], None] | None = None,
    on_start: Callable[[Defragment | Compact | Disarm], None] | None = None,
    max_steps: int = MAX_STEPS,
    defragment_timeout: float = DEFRAGMENT_TIMEOUT,
) -> MaintenanceReport:
    """Observe → plan → apply until the planner says Nothing (module docstring).

    `endpoints`: one per member pod (as the reconciler's observe builds them); `last_round`:
    when the last round ended on `clock`'s `now()`; `on_start` is called as each step starts
    (a member being defragmented answers nothing, not even its status, until it is done: the
    reconciler should not take it for unhealthy), `on_step` as each step ends.
    etcd failures end the run in the report (`error`); cancellation propagates."""
    clock = clock or RealClock()
    done: list[Done] = []
    compacted = 0
    defragmented: set[int] = set()  # since the last compaction

    def report(
        outcome: Nothing | None, state: ClusterState, error: str | None = None
    ) -> MaintenanceReport:
        return MaintenanceReport(tuple(done), outcome, error, clock.now(), state)

    async def decide() -> tuple[ClusterState, dict[int, Endpoint], Step]:
        """Observes and plans; waits (up to CATCH_UP_WAIT) for members catching up."""
        waited = 0.0
        while True:
            state, where = await observe_cluster(pool, endpoints, tls)
            step = plan(
                state,
                policy,
                now=clock.now(),
                last_round=last_round,
                in_round=any(isinstance(d.step, Defragment) for d in done),
                compacted=compacted,
                defragmented=frozenset(defragmented),
            )
            caught_up = not (isinstance(step, Nothing) and step.reason == CATCHING_UP)
            if caught_up or waited >= CATCH_UP_WAIT:
                return state, where, step
            await clock.sleep(CATCH_UP_RETRY)
            waited += CATCH_UP_RETRY

    state = ClusterState()
    while len(done) < max_steps:
        state, where, step = await decide()
        if isinstance(step, Nothing):
            return report(step, state)
        if isinstance(step, Defragment) and step.member_id in defragmented:
            message = f"{step.name} was defragmented and is due again: {step.message}"
            return report(Nothing(NO_PROGRESS, message), state)
        if on_start is not None:
            on_start(step)
        started = clock.now()
        try:
            finished = await _apply(step, state, where, tls, defragment_timeout)
        except Compacted:
            assert isinstance(step, Compact)
            finished = _done(step, "Compacted", f"already compacted to {step.revision}", 0.0)
        except EtcdClientError as exc:
            log.warning("maintenance step %s failed: %s", step, exc)
            return report(None, state, f"{_describe(step)}: {exc}")
        finished = _with_time(finished, clock.now() - started)
        if isinstance(step, Compact):
            compacted = step.revision
            defragmented.clear()
        if isinstance(step, Defragment):
            defragmented.add(step.member_id)
            after = await _db_size(pool, where.get(step.member_id), tls)
            finished = _with_sizes(finished, state, step.member_id, after)
        done.append(finished)
        log.info("maintenance: %s", finished.message)
        if on_step is not None:
            on_step(finished)
    return report(None, state, f"stopped after {max_steps} steps")


async def _apply(
    step: Defragment | Compact | Disarm,
    state: ClusterState,
    where: dict[int, Endpoint],
    tls: TLSMaterial | None,
    defragment_timeout: float,
) -> Done:
    leader = state.leader
    assert leader is not None  # the planner steps only with a leader
    if isinstance(step, Defragment):
        # A channel of its own: see the module docstring.
        async with EtcdClient(where[step.member_id], tls) as client:
            await client.defragment(timeout=defragment_timeout)
        return _done(step, "Defragmented", f"defragmented {step.name} ({step.message})", 0.0)
    async with EtcdClient(where[leader.id], tls) as client:
        if isinstance(step, Compact):
            await client.compact(step.revision, physical=True, timeout=COMPACT_TIMEOUT)
            return _done(step, "Compacted", f"compacted the key history to {step.revision}", 0)
        await client.alarm_disarm(step.member_id, step.alarm)
        return _done(step, "AlarmDisarmed", f"disarmed {step.alarm} of {step.name}", 0.0)


def _done(step: Defragment | Compact | Disarm, reason: str, message: str, took: float) -> Done:
    return Done(step=step, reason=reason, message=message, took=took)


def _with_time(done: Done, took: float) -> Done:
    return Done(done.step, done.reason, f"{done.message} in {took:.1f}s", took)


def _with_sizes(done: Done, state: ClusterState, member_id: int, after: int | None) -> Done:
    before = next((m.db_size for m in state.members if m.id == member_id), None)
    message = done.message
    if before is not None and after is not None:
        message = f"{message}: {human_size(before)} → {human_size(after)}"
    return Done(done.step, done.reason, message, done.took, before, after)


async def _db_size(
    pool: EtcdPool, endpoint: Endpoint | None, tls: TLSMaterial | None
) -> int | None:
    if endpoint is None:
        return None
    try:
        return (await pool.ask(endpoint, tls, EtcdClient.status)).db_size
    except EtcdClientError:
        return None


def _describe(step: Defragment | Compact | Disarm) -> str:
    if isinstance(step, Defragment):
        return f"defragmenting {step.name}"
    if isinstance(step, Compact):
        return f"compacting to revision {step.revision}"
    return f"disarming {step.alarm} of {step.name}"


__all__ = ["Done", "MaintenanceReport", "observe_cluster", "run_maintenance"]
