"""Steps a property test generates and shrinks: some world events, then one operator pass
that may die at a fault point.

An event is a (kind, number) pair; the number picks the pod, follower, voter or size modulo
how many there are, so every generated pair is valid. A pass's `crash` number picks among
the fault points its planned action passes (None: no crash), so crashes land on actions
that have steps to interrupt instead of mostly on Steady passes.
"""

from __future__ import annotations

from enum import StrEnum

from tests.sim.world import World

MAX_SIZE = 7


class Kind(StrEnum):
    START = "start"  # the kubelet (re)starts the n-th pod's etcd process
    START_ALL = "start-all"
    KILL = "kill"  # the n-th pod's etcd process dies
    CATCH_UP = "catch-up"  # learners and lagging voters receive the leader's log
    WRITE = "write"  # a client write that the n-th follower in sync misses
    TICK = "tick"  # a health interval passes; terminating pods are gone
    LEADER = "leader"  # leadership moves to the n-th voter in sync
    RESIZE = "resize"  # spec.size becomes 1 + n % MAX_SIZE
    DELETE = "delete"  # someone deletes the n-th pod
    EVICT = "evict"  # the kubelet evicts the n-th pod
    RESTART_ALL = "restart-all"  # every pod is deleted (nodes rebooted)
    LAG = "lag"  # the operator's cache misses every change of the next 1 + n % 3 passes
    ROLL = "roll"  # the user changes the pod policy: every member is rolled
    UPGRADE = "upgrade"  # the user asks for the next minor etcd version
    LOSE_VOLUME = "lose-volume"  # the n-th pod's disk is lost; the pods watch lags 1 + n % 3


Event = tuple[Kind, int]
Step = tuple[tuple[Event, ...], int | None]  # events, then a pass crashing at fault n


def happen(world: World, event: Event) -> None:
    kind, n = event
    pods = world.pods()
    match kind:
        case Kind.START if pods:
            world.start(pods[n % len(pods)])
        case Kind.START_ALL:
            world.start_all()
        case Kind.KILL if pods:
            world.kill(pods[n % len(pods)])
        case Kind.CATCH_UP:
            world.catch_up()
        case Kind.WRITE:
            world.write(lagging=n)
        case Kind.TICK:
            world.tick()
        case Kind.LEADER:
            world.transfer_leadership(n)
        case Kind.RESIZE:
            world.resize(1 + n % MAX_SIZE)
        case Kind.DELETE if pods:
            world.delete(pods[n % len(pods)])
        case Kind.EVICT if pods:
            world.evict(pods[n % len(pods)])
        case Kind.LOSE_VOLUME if pods:
            world.lose_volume(pods[n % len(pods)], 1 + n % 3)
        case Kind.RESTART_ALL:
            world.restart_all()
        case Kind.LAG:
            world.lag(1 + n % 3)
        case Kind.ROLL:
            world.change_pod_policy(n)
        case Kind.UPGRADE:
            world.upgrade()
        case Kind.START | Kind.KILL | Kind.DELETE | Kind.EVICT | Kind.LOSE_VOLUME:
            pass  # no pod yet
    world.safety.check_world()


async def play(world: World, step: Step) -> None:
    events, crash = step
    for event in events:
        happen(world, event)
    await world.reconcile(crash=crash)
