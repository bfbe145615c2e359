"""The order of the executor's changes, read from the simulated world's journal of accepted
changes, and crash safety at every fault point.

A member is registered in etcd before its pod exists (a crash in between leaves a member the
planner resumes, never a pod etcd does not know), removed from etcd before its pod is deleted
and the pod before its volume (a crash in between leaves a stray object, never a member
without its pod or data); a volume is created after its pod; the seed is created once.
"""

from __future__ import annotations

import pytest

from controller.common.resources import PODS, PVCS
from controller.etcdcluster.executor import Executor
from controller.etcdcluster.observe import Observed
from controller.etcdcluster.planner import BootstrapSeed, RemoveMember
from controller.runtime.faults import fault_point
from tests.sim.checks import assert_converges
from tests.sim.world import FAULT_POINTS, FAULT_POINTS_OF, World

Journal = list[tuple[str, str]]


def position(journal: Journal, change: str, name: str) -> int:
    """Where `change` of `name` happened; it must have happened exactly once."""
    found = [i for i, entry in enumerate(journal) if entry == (change, name)]
    assert len(found) == 1, f"{change} {name} happened {len(found)} times: {journal}"
    return found[0]


def added(journal: Journal) -> list[str]:
    return [name for change, name in journal if change == "member-add"]


def removed(journal: Journal) -> list[str]:
    return [name for change, name in journal if change == "member-remove"]


def assert_removal_order(journal: Journal, pod: str) -> None:
    member = position(journal, "member-remove", pod)
    deleted = position(journal, "pod-delete", pod)
    assert member < deleted < position(journal, "pvc-delete", pod), journal


async def at_size(size: int, pvc: bool = True) -> World:
    world = World(size, pvc)
    await assert_converges(world)
    return world


async def test_growth_adds_the_member_before_its_pod_and_the_volume_after_the_pod() -> None:
    world = await at_size(1)
    world.resize(3)
    await assert_converges(world)
    new = added(world.journal)
    assert len(new) == 2
    for pod in new:
        member = position(world.journal, "member-add", pod)
        created = position(world.journal, "pod-create", pod)
        volume = position(world.journal, "pvc-create", pod)
        assert member < created < volume < position(world.journal, "member-promote", pod)


async def test_shrink_removes_the_member_then_its_pod_then_its_volume() -> None:
    world = await at_size(3)
    world.resize(1)
    await assert_converges(world)
    gone = removed(world.journal)
    assert len(gone) == 2
    for pod in gone:
        assert_removal_order(world.journal, pod)


class PVCFirstExecutor(Executor):
    """A removal that deletes the volume before the pod: what the order test must catch."""

    async def _remove(self, obs: Observed, action: RemoveMember) -> None:
        await (await self._leader(obs)).member_remove(action.member_id)
        fault_point("after-member-remove")
        assert action.pod is not None
        await self._delete(PVCS, obs.cluster, action.pod)
        await self._delete(PODS, obs.cluster, action.pod)


async def test_the_removal_order_check_catches_a_volume_deleted_before_its_pod() -> None:
    world = await at_size(2)
    world.executor = PVCFirstExecutor(world.kube, world.executor.etcd, world.events)
    world.resize(1)
    await world.converge()
    with pytest.raises(AssertionError):
        assert_removal_order(world.journal, removed(world.journal)[0])


async def test_bootstrap_creates_the_seed_pod_then_its_volume_once() -> None:
    world = await at_size(3)
    seed = next(name for change, name in world.journal if change == "pod-create")
    assert position(world.journal, "pod-create", seed) < position(world.journal, "pvc-create", seed)
    for size in (1, 5, 2):  # a whole life: the seed's member may be removed on the way
        world.resize(size)
        await assert_converges(world)
    assert world.safety.bootstraps == 1


async def test_a_stale_bootstrap_is_applied_once() -> None:
    """The same BootstrapSeed applied twice (a pass on a cache that missed the first) creates
    nothing the second time: the seed's name is the cluster's, not a new one."""
    world = World(3)
    for _ in range(2):  # the two Services
        await world.reconcile()
    observed = await world.observe()
    action = await world.reconcile()
    assert isinstance(action, BootstrapSeed)
    await world.executor.apply(observed, action)
    assert [c for c in world.journal if c[0] in ("pod-create", "pvc-create")] == [
        ("pod-create", action.pod),
        ("pvc-create", action.pod),
    ]
    assert world.safety.bootstraps == 1
    await assert_converges(world)


def test_every_fault_point_belongs_to_an_action() -> None:
    assert {p for points in FAULT_POINTS_OF.values() for p in points} == set(FAULT_POINTS)


async def crashed_world(point: str, pvc: bool) -> World:
    """A world whose operator died at `point`: bootstrapping 3 members for the seed's point,
    growing 1 → 3 for MemberAdd, pod and promotion points, shrinking 3 → 1 for removals."""
    world = World(3, pvc)
    if point != "after-seed-pod-create":
        shrink = "remove" in point or "delete" in point
        world.resize(3 if shrink else 1)
        await assert_converges(world)
        world.resize(1 if shrink else 3)
    await world.crash_at(point)
    return world


@pytest.mark.parametrize("pvc", [True, False], ids=["pvc", "emptydir"])
@pytest.mark.parametrize("point", FAULT_POINTS)
async def test_a_crash_at_each_fault_point_converges(point: str, pvc: bool) -> None:
    world = await crashed_world(point, pvc)
    await assert_converges(world)  # no member missing or extra, each with its pod and volume
    journal = world.journal
    new, gone = added(journal), removed(journal)
    assert len(set(new)) == len(new) and len(set(gone)) == len(gone), journal  # no duplicate
    created = [name for change, name in journal if change == "pod-create"]
    assert len(set(created)) == len(created), journal  # no pod made twice
    assert set(new) <= set(created), journal  # every member added got its pod
