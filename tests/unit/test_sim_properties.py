"""Properties of the EtcdCluster planner and executor, on the simulated world (tests/sim).

Hypothesis drives the real observe → plan → apply through random orders of world events,
operator crashes at every fault point, process deaths and size changes. After every step
the world must have broken no rule (tests/sim/safety.py): every membership change keeps a
quorum of healthy voters, the leader is never removed, nor the only holder of committed
data, no seed is created over volumes or members and only one ever, at most one learner
and one change at a time. Then, with no more faults and processes free to start, the
operator must converge: Steady, spec.size voting members, each with one pod (and one PVC
on PVC clusters), no learner, nothing stray, no committed write lost, status Running.
"""

from __future__ import annotations

import asyncio
import copy
import functools
from collections.abc import Sequence

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from api import ClusterPhase, ClusterStatus
from controller.clients.etcd import TooManyLearners, UnhealthyCluster
from controller.etcdcluster import planner
from controller.etcdcluster.observe import EtcdView, MemberView
from controller.etcdcluster.planner import AllMembersLost, BootstrapSeed, Steady
from controller.etcdcluster.status import desired_status
from tests.sim.checks import assert_converges, describe
from tests.sim.etcd import SimEtcdClient
from tests.sim.moves import MAX_SIZE, Kind, Step, play
from tests.sim.world import World

# Process starts and time dominate, as in a live cluster.
LIVELY = (
    *[Kind.START] * 3,
    *[Kind.START_ALL] * 2,
    Kind.KILL,
    Kind.CATCH_UP,
    Kind.WRITE,
    *[Kind.TICK] * 2,
    Kind.LEADER,
    Kind.RESIZE,
    Kind.LAG,
)
# Pods lost underneath the operator (deleted, evicted, with their disk, all at once) while it
# resizes: members come back on their volumes, or are replaced when their data went with them.
LOSSY = (
    *[Kind.START_ALL] * 3,
    *[Kind.TICK] * 2,
    Kind.CATCH_UP,
    Kind.KILL,
    Kind.DELETE,
    Kind.EVICT,
    Kind.LOSE_VOLUME,
    Kind.RESTART_ALL,
    Kind.RESIZE,
    Kind.ROLL,
    Kind.LAG,
)
# Spec changes one after another (sizes 1 → 3 → 5 → 3 → 1 ..., a new pod policy or etcd
# version rolling every member) while members die and restart.
CHANGING = (
    *[Kind.RESIZE] * 3,
    Kind.ROLL,
    Kind.UPGRADE,
    *[Kind.START_ALL] * 3,
    *[Kind.TICK] * 2,
    Kind.CATCH_UP,
    Kind.KILL,
)


def steps(kinds: Sequence[Kind]) -> st.SearchStrategy[list[Step]]:
    """Up to 30 passes, each after up to 3 events; a third of the passes crash."""
    events = st.tuples(st.sampled_from(kinds), st.integers(0, 6))
    crashes = st.sampled_from((None, None, 0, 1, 2))
    step = st.tuples(st.lists(events, max_size=3).map(tuple), crashes)
    return st.lists(step, min_size=1, max_size=30)


sizes = st.integers(1, MAX_SIZE)
seeds = st.integers(0, 2**16)  # the new members' names, hence which one is removed
SETTINGS = settings(deadline=None, derandomize=True, database=None)  # reproducible in CI


@functools.cache
def _converged(size: int, pvc: bool, seed: int) -> World:
    world = World(size, pvc, seed)
    asyncio.run(assert_converges(world))
    return world


def converged(size: int, pvc: bool, seed: int) -> World:
    """A running cluster at `size`: a copy of one converged once per (size, pvc, seed % 4),
    which costs a fraction of converging each time; later names come from `seed`."""
    world = copy.deepcopy(_converged(size, pvc, seed % 4))
    world.reseed(seed)
    return world


def run(world: World, history: Sequence[Step]) -> None:
    asyncio.run(_run(world, history))


async def _run(world: World, history: Sequence[Step]) -> None:
    for i, step in enumerate(history):
        await play(world, step)
        assert not world.violations, f"after step {i} {step}:\n{describe(world)}"
    # `pytest --hypothesis-show-statistics` shows how often each action ran and crashed.
    for fate in {p.partition(": ")[0] for p in world.passes} | {
        p for p in world.passes if "crashed at" in p
    }:
        event(fate)
    await assert_converges(world)
    status = desired_status(await world.observe(), Steady(), ClusterStatus(), world.now)
    assert status.phase == ClusterPhase.RUNNING and status.size == world.size


@settings(SETTINGS, max_examples=500)
@given(pvc=st.booleans(), size=sizes, seed=seeds, history=steps(LIVELY))
def test_from_nothing_under_random_events(
    pvc: bool, size: int, seed: int, history: list[Step]
) -> None:
    run(World(size, pvc, seed), history)


@settings(SETTINGS, max_examples=500)
@given(pvc=st.booleans(), size=sizes, seed=seeds, history=steps(LIVELY))
def test_running_cluster_under_random_events(
    pvc: bool, size: int, seed: int, history: list[Step]
) -> None:
    run(converged(size, pvc, seed), history)


@settings(SETTINGS, max_examples=500)
@given(pvc=st.booleans(), size=sizes, seed=seeds, history=steps(CHANGING))
def test_changing_spec_under_crashes_and_deaths(
    pvc: bool, size: int, seed: int, history: list[Step]
) -> None:
    run(converged(size, pvc, seed), history)


async def test_a_full_restart_on_volumes_brings_back_the_same_members_with_their_data() -> None:
    world = await at_size(3)
    world.write()
    ids, committed = set(world.etcd.members), world.etcd.committed
    world.restart_all()
    world.tick()  # the pods are gone
    assert not world.kube.pods and world.etcd.leader == 0
    await assert_converges(world)
    assert set(world.etcd.members) == ids and world.etcd.committed == committed
    assert sum(change == "member-add" for change, _ in world.journal) == 2  # the growth to 3


async def test_an_emptydir_cluster_that_lost_every_member_is_not_bootstrapped_again() -> None:
    world = World(3, pvc=False)
    await assert_converges(world)
    world.restart_all(survivable=False)  # every member and its data gone
    actions = []
    for _ in range(3):
        world.settle()
        actions.append(await world.reconcile())
    assert actions == [AllMembersLost()] * 3, actions
    assert world.safety.bootstraps == 1 and not world.violations and not world.kube.pods


# The rules are not vacuous: a world where the operator breaks one records it.


async def at_size(size: int) -> World:
    world = World(size)
    assert await world.converge() == Steady(), describe(world)
    return world


def leader_client(world: World) -> SimEtcdClient:
    leader = world.etcd.leader_member()
    assert leader is not None and leader.process is not None
    ip = world.kube.pods[leader.process].ip
    assert ip is not None
    return SimEtcdClient(world.etcd_api, ip)


async def test_a_planner_removing_the_leader_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    def the_leader(etcd: EtcdView, *_: object) -> MemberView:
        return next(v for v in etcd.voting if v.member.id == etcd.leader)

    monkeypatch.setattr(planner, "removal_candidate", the_leader)
    world = await at_size(3)
    world.resize(2)
    await world.converge()
    assert any("MemberRemove of the leader" in v for v in world.violations), world.violations


async def test_a_removal_that_loses_quorum_is_caught_and_refused() -> None:
    world = await at_size(3)
    down, victim = (m for m in world.etcd.voters if m.id != world.etcd.leader)
    assert down.process is not None
    world.kill(world.kube.pods[down.process])
    with pytest.raises(UnhealthyCluster):
        await leader_client(world).member_remove(victim.id)
    assert any("leaves 1 healthy of 2 voters" in v for v in world.violations), world.violations
    assert victim.id in world.etcd.members


async def test_a_second_learner_is_caught_and_refused() -> None:
    world = await at_size(1)
    client = leader_client(world)
    await client.member_add(["https://example-bbbbbbbbbb.example.default.svc:2380"], True)
    with pytest.raises(TooManyLearners):
        await client.member_add(["https://example-cccccccccc.example.default.svc:2380"], True)
    assert any("while learner example-bbbbbbbbbb" in v for v in world.violations)


async def test_removing_the_only_holder_of_committed_data_is_caught() -> None:
    world = await at_size(3)
    follower = next(m for m in world.etcd.voters if m.id != world.etcd.leader)
    for member in world.etcd.members.values():  # as if only it kept the last write
        assert member.data is not None
        member.data.revision = 9 if member is follower else 8
    world.etcd.committed = 9
    await leader_client(world).member_remove(follower.id)
    assert any("the only member with the committed revision 9" in v for v in world.violations)


async def test_a_second_seed_over_volumes_is_caught() -> None:
    world = await at_size(1)
    observed = await world.observe()
    await world.executor.apply(observed, BootstrapSeed("example-dddddddddd"))
    broken = "\n".join(world.violations)
    assert "bootstrapped twice" in broken and "over existing volumes" in broken
    assert "while the cluster has members" in broken
    world.start_all()
    assert "bootstrapped a second cluster" in "\n".join(world.violations)


@settings(SETTINGS, max_examples=500)
@given(pvc=st.booleans(), size=sizes, seed=seeds, history=steps(LOSSY))
def test_cluster_losing_pods_heals(pvc: bool, size: int, seed: int, history: list[Step]) -> None:
    run(converged(size, pvc, seed), history)
