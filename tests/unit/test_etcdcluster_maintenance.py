"""The maintenance planner (controller.etcdcluster.maintenance.plan) as a table: one member at a
time, the leader last, threshold and minimum size, the interval between rounds, the NOSPACE
sequence, and nothing on an unhealthy cluster; then the planner looped over a model of etcd
until it rests, the view built from etcd's answers, and the client's alarm parsing."""

from __future__ import annotations

from dataclasses import replace

import grpc
import pytest
from pydantic import ValidationError

from api.cluster import MaintenancePolicy
from controller.clients.etcd import (
    CORRUPT,
    NOSPACE,
    Alarm,
    Compacted,
    EndpointStatus,
    Member,
    NoSpace,
    error_for,
)
from controller.etcdcluster.maintenance import (
    CATCHING_UP,
    CORRUPTED,
    DEFAULT_QUOTA,
    DISABLED,
    FRAGMENTED,
    INTERVAL,
    NO_SPACE,
    NO_SPACE_BLOCKED,
    NOT_FRAGMENTED,
    OTHER_ALARM,
    UNHEALTHY,
    ClusterState,
    Compact,
    Defragment,
    Disarm,
    MemberState,
    Nothing,
    Step,
    no_space_message,
    plan,
    state_from,
)

MiB = 1024 * 1024
QUOTA = 100 * MiB  # the NOSPACE line is at 90 MiB
IDS = {"m0": 0xA0, "m1": 0xA1, "m2": 0xA2}
ON = MaintenancePolicy()  # spec.maintenance: {} → threshold 50, 64 MiB, 3600 s, clear NOSPACE
NOW = 10_000.0


def member(
    name: str,
    size: int = 200 * MiB,
    in_use: int = 200 * MiB,
    *,
    leader: bool = False,
    healthy: bool = True,
    quota: int = QUOTA,
) -> MemberState:
    problem = None if healthy else f"{name} did not answer"
    return MemberState(IDS[name], name, healthy, leader, size, in_use, quota, problem)


def cluster(
    *members: MemberState, alarms: tuple[Alarm, ...] = (), revision: int = 500
) -> ClusterState:
    return ClusterState(members=members, alarms=alarms, revision=revision)


def three(
    size: int = 200 * MiB, in_use: int = 200 * MiB, **sizes: tuple[int, int]
) -> tuple[MemberState, ...]:
    """m0 leads; every member `size`/`in_use` unless named in `sizes`."""
    return tuple(
        member(n, *sizes.get(n, (size, in_use)), leader=n == "m0") for n in ("m0", "m1", "m2")
    )


NOSPACE_M1 = (Alarm(IDS["m1"], NOSPACE),)
FRAGMENTED_ALL = three(200 * MiB, 80 * MiB)  # 60% free each

# (id, state, policy, keyword arguments of plan, expected step)
CASES: list[tuple[str, ClusterState, MaintenancePolicy | None, dict[str, object], Step]] = [
    (
        "no-policy",
        cluster(*FRAGMENTED_ALL),
        None,
        {},
        Nothing(DISABLED, "spec.maintenance is not set"),
    ),
    (
        "no-policy-nospace",
        cluster(*three(95 * MiB, 10 * MiB), alarms=NOSPACE_M1),
        None,
        {},
        Nothing(DISABLED, "spec.maintenance is not set"),
    ),
    (
        "follower-first-by-name",
        cluster(*FRAGMENTED_ALL),
        ON,
        {},
        Defragment(IDS["m1"], "m1", FRAGMENTED, "m1: 60% of 200.0 MiB free"),
    ),
    (
        "next-follower",
        cluster(*three(200 * MiB, 80 * MiB, m1=(80 * MiB, 79 * MiB))),
        ON,
        {"in_round": True},
        Defragment(IDS["m2"], "m2", FRAGMENTED, "m2: 60% of 200.0 MiB free"),
    ),
    (
        "leader-last",
        cluster(*three(80 * MiB, 79 * MiB, m0=(200 * MiB, 80 * MiB))),
        ON,
        {"in_round": True},
        Defragment(IDS["m0"], "m0", FRAGMENTED, "m0: 60% of 200.0 MiB free", leader=True),
    ),
    (
        "threshold-reached-exactly",
        cluster(*three(100 * MiB, 100 * MiB, m2=(100 * MiB, 50 * MiB))),
        ON,
        {},
        Defragment(IDS["m2"], "m2", FRAGMENTED, "m2: 50% of 100.0 MiB free"),
    ),
    (
        "threshold-missed-by-a-byte",
        cluster(*three(100 * MiB, 100 * MiB, m2=(100 * MiB, 50 * MiB + 1))),
        ON,
        {},
        Nothing(NOT_FRAGMENTED, "no member is 50% free with at least 64.0 MiB"),
    ),
    (
        "custom-threshold",
        cluster(*three(100 * MiB, 100 * MiB, m2=(100 * MiB, 75 * MiB))),
        MaintenancePolicy(fragmentation_threshold_percent=25),
        {},
        Defragment(IDS["m2"], "m2", FRAGMENTED, "m2: 25% of 100.0 MiB free"),
    ),
    (
        "below-min-size",
        cluster(*three(64 * MiB - 1, 1 * MiB)),
        ON,
        {},
        Nothing(NOT_FRAGMENTED, "no member is 50% free with at least 64.0 MiB"),
    ),
    (
        "at-min-size",
        cluster(*three(64 * MiB, 64 * MiB, m1=(64 * MiB, 1 * MiB))),
        ON,
        {},
        Defragment(IDS["m1"], "m1", FRAGMENTED, "m1: 98% of 64.0 MiB free"),
    ),
    (
        "min-size-zero-still-needs-a-size",
        cluster(*three(0, 0)),
        MaintenancePolicy(min_db_size_bytes=0),
        {},
        Nothing(NOT_FRAGMENTED, "no member is 50% free with at least 0 B"),
    ),
    (
        "threshold-zero-disables-periodic",
        cluster(*FRAGMENTED_ALL),
        MaintenancePolicy(fragmentation_threshold_percent=0),
        {},
        Nothing(DISABLED, "spec.maintenance.fragmentationThresholdPercent is 0"),
    ),
    (
        "interval-not-over",
        cluster(*FRAGMENTED_ALL),
        ON,
        {"last_round": NOW - 600},
        Nothing(
            INTERVAL,
            "m1, m2, m0 fragmented; the last defragmentation ended 600s ago, the next may"
            " start in 3000s",
            retry_at=NOW + 3000,
        ),
    ),
    (
        "interval-over-exactly",
        cluster(*FRAGMENTED_ALL),
        ON,
        {"last_round": NOW - 3600},
        Defragment(IDS["m1"], "m1", FRAGMENTED, "m1: 60% of 200.0 MiB free"),
    ),
    (
        "interval-not-over-but-in-round",
        cluster(*FRAGMENTED_ALL),
        ON,
        {"last_round": NOW - 1, "in_round": True},
        Defragment(IDS["m1"], "m1", FRAGMENTED, "m1: 60% of 200.0 MiB free"),
    ),
    (
        "custom-interval",
        cluster(*FRAGMENTED_ALL),
        MaintenancePolicy(min_interval_in_second=60),
        {"last_round": NOW - 60},
        Defragment(IDS["m1"], "m1", FRAGMENTED, "m1: 60% of 200.0 MiB free"),
    ),
    (
        "follower-unhealthy",
        cluster(*three(200 * MiB, 80 * MiB)[:2], member("m2", healthy=False)),
        ON,
        {},
        Nothing(UNHEALTHY, "m2 did not answer"),
    ),
    (
        "follower-catching-up",
        cluster(
            replace(FRAGMENTED_ALL[0], raft_index=1000, applied=1000),
            replace(FRAGMENTED_ALL[1], raft_index=1000, applied=950),  # at the limit
            replace(FRAGMENTED_ALL[2], raft_index=1000, applied=949),
        ),
        ON,
        {},
        Nothing(CATCHING_UP, "catching up: m2 applied 949 of 1000", retry_at=NOW + 0.5),
    ),
    (
        "nospace-waits-for-catching-up-too",
        cluster(
            replace(FRAGMENTED_ALL[0], raft_index=1000, applied=1000),
            replace(FRAGMENTED_ALL[1], raft_index=1000, applied=10),
            FRAGMENTED_ALL[2],
            alarms=NOSPACE_M1,
        ),
        ON,
        {},
        Nothing(
            CATCHING_UP,
            "catching up: m1 applied 10 of 1000, m2 applied 0 of 1000",
            retry_at=NOW + 0.5,
        ),
    ),
    (
        "no-leader",
        cluster(*(replace(m, leader=False) for m in FRAGMENTED_ALL)),
        ON,
        {},
        Nothing(UNHEALTHY, "no leader"),
    ),
    (
        "no-view",
        ClusterState(problem="no member list: m0: UNAVAILABLE"),
        ON,
        {},
        Nothing(UNHEALTHY, "no member list: m0: UNAVAILABLE"),
    ),
    (
        "no-members",
        ClusterState(),
        ON,
        {},
        Nothing(UNHEALTHY, "no member"),
    ),
    # NOSPACE: disarm when there is room, defragment what fits, compact, else blocked.
    (
        "nospace-room-already",
        cluster(*three(90 * MiB, 90 * MiB), alarms=NOSPACE_M1),
        ON,
        {"last_round": NOW - 1},
        Disarm(IDS["m1"], "m1"),
    ),
    (
        "nospace-lowest-alarm-first",
        cluster(*three(10 * MiB, 10 * MiB), alarms=(Alarm(0xA2, NOSPACE), Alarm(0xA0, NOSPACE))),
        ON,
        {},
        Disarm(IDS["m0"], "m0"),
    ),
    (
        "nospace-defragment-what-fits-follower-first",
        cluster(*three(95 * MiB, 90 * MiB), alarms=NOSPACE_M1),
        ON,
        {"last_round": NOW - 1},  # NOSPACE does not wait for the interval
        Defragment(
            IDS["m1"],
            "m1",
            NO_SPACE,
            "NOSPACE: m1 has 95.0 MiB of a 100.0 MiB quota, 90.0 MiB in use",
        ),
    ),
    (
        "nospace-leader-last",
        cluster(*three(10 * MiB, 10 * MiB, m0=(95 * MiB, 10 * MiB)), alarms=NOSPACE_M1),
        ON,
        {},
        Defragment(
            IDS["m0"],
            "m0",
            NO_SPACE,
            "NOSPACE: m0 has 95.0 MiB of a 100.0 MiB quota, 10.0 MiB in use",
            leader=True,
        ),
    ),
    (
        "nospace-compact-first-when-nothing-fits",
        cluster(*three(100 * MiB, 95 * MiB), alarms=NOSPACE_M1, revision=777),
        ON,
        {},
        Compact(777, "NOSPACE: the data in use does not fit; compacting to revision 777"),
    ),
    (
        "nospace-compact-again-at-a-newer-revision",
        cluster(*three(100 * MiB, 95 * MiB), alarms=NOSPACE_M1, revision=778),
        ON,
        {"compacted": 777},
        Compact(778, "NOSPACE: the data in use does not fit; compacting to revision 778"),
    ),
    (
        "nospace-compact-before-defragmenting-what-fits",
        cluster(*three(100 * MiB, 95 * MiB, m0=(100 * MiB, 10 * MiB)), alarms=NOSPACE_M1),
        ON,
        {},
        Compact(500, "NOSPACE: the data in use does not fit; compacting to revision 500"),
    ),
    (
        "nospace-compacted-leader-fits-but-goes-last",
        cluster(*three(100 * MiB, 95 * MiB, m0=(100 * MiB, 10 * MiB)), alarms=NOSPACE_M1),
        ON,
        {"compacted": 500},
        Defragment(
            IDS["m1"], "m1", NO_SPACE, "NOSPACE: m1 has 100.0 MiB of a 100.0 MiB quota (compacted)"
        ),
    ),
    (
        "nospace-defragmented-yet-over-compacts",
        cluster(*three(10 * MiB, 10 * MiB, m1=(91 * MiB, 90 * MiB)), alarms=NOSPACE_M1),
        ON,
        {"defragmented": frozenset({IDS["m1"]})},
        Compact(500, "NOSPACE: the data in use does not fit; compacting to revision 500"),
    ),
    (
        "nospace-defragmented-yet-over-after-compaction-is-stuck",
        cluster(*three(10 * MiB, 10 * MiB, m1=(91 * MiB, 90 * MiB)), alarms=NOSPACE_M1),
        ON,
        {"compacted": 500, "defragmented": frozenset({IDS["m1"]})},
        Nothing(
            NO_SPACE_BLOCKED,
            "NOSPACE: m1 holds 90.0 MiB in use after compaction, over 90% of its 100.0 MiB"
            " quota: delete keys, or raise the quota (ETCD_QUOTA_BACKEND_BYTES in"
            " spec.pod.etcdEnv)",
        ),
    ),
    (
        "nospace-compacted-defragment-to-see",
        cluster(*three(100 * MiB, 95 * MiB), alarms=NOSPACE_M1, revision=777),
        ON,
        {"compacted": 777},
        Defragment(
            IDS["m1"],
            "m1",
            NO_SPACE,
            "NOSPACE: m1 has 100.0 MiB of a 100.0 MiB quota (compacted)",
        ),
    ),
    (
        "nospace-compacted-leader-last",
        cluster(*three(100 * MiB, 95 * MiB), alarms=NOSPACE_M1, revision=777),
        ON,
        {"compacted": 777, "defragmented": frozenset({IDS["m1"], IDS["m2"]})},
        Defragment(
            IDS["m0"],
            "m0",
            NO_SPACE,
            "NOSPACE: m0 has 100.0 MiB of a 100.0 MiB quota (compacted)",
            leader=True,
        ),
    ),
    (
        "nospace-blocked",
        cluster(*three(96 * MiB, 95 * MiB, m2=(98 * MiB, 97 * MiB)), alarms=NOSPACE_M1),
        ON,
        {"compacted": 500, "defragmented": frozenset(IDS.values())},
        Nothing(
            NO_SPACE_BLOCKED,
            "NOSPACE: m2 holds 97.0 MiB in use after compaction, over 90% of its 100.0 MiB"
            " quota: delete keys, or raise the quota (ETCD_QUOTA_BACKEND_BYTES in"
            " spec.pod.etcdEnv)",
        ),
    ),
    (
        "nospace-default-quota",
        cluster(*(replace(m, quota=0) for m in three(1900 * MiB, 100 * MiB)), alarms=NOSPACE_M1),
        ON,
        {},
        Defragment(
            IDS["m1"],
            "m1",
            NO_SPACE,
            "NOSPACE: m1 has 1.9 GiB of a 2.0 GiB quota, 100.0 MiB in use",
        ),
    ),
    (
        "nospace-left-alone",
        cluster(*three(95 * MiB, 10 * MiB), alarms=NOSPACE_M1),
        MaintenancePolicy(clear_no_space=False),
        {},
        Nothing(
            NO_SPACE,
            "NOSPACE alarm raised by m1: etcd refuses writes (m0 95.0 MiB of 100.0 MiB, m1 95.0"
            " MiB of 100.0 MiB, m2 95.0 MiB of 100.0 MiB); spec.maintenance.clearNoSpace is"
            " false",
        ),
    ),
    (
        "nospace-unhealthy",
        cluster(*three(95 * MiB, 10 * MiB)[:2], member("m2", healthy=False), alarms=NOSPACE_M1),
        ON,
        {},
        Nothing(UNHEALTHY, "m2 did not answer"),
    ),
    (
        "corrupt-before-anything",
        cluster(*three(95 * MiB, 10 * MiB), alarms=(*NOSPACE_M1, Alarm(IDS["m2"], CORRUPT))),
        ON,
        {},
        Nothing(CORRUPTED, "CORRUPT alarm raised by m2: left to a human"),
    ),
    (
        "unknown-alarm",
        cluster(*FRAGMENTED_ALL, alarms=(Alarm(IDS["m0"], "3"),)),
        ON,
        {},
        Nothing(OTHER_ALARM, "alarm 3 is active"),
    ),
]


@pytest.mark.parametrize(
    ("state", "policy", "kwargs", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_plan(
    state: ClusterState,
    policy: MaintenancePolicy | None,
    kwargs: dict[str, object],
    expected: Step,
) -> None:
    assert plan(state, policy, now=NOW, **kwargs) == expected  # type: ignore[arg-type]


# --- the planner looped over a model of etcd ------------------------------------------------


def apply(state: ClusterState, step: Step, history: int) -> ClusterState:
    """What etcd does: compaction frees `history` bytes of each member's data (but bbolt
    shows them in use until a write, which NOSPACE refuses), defragmentation shrinks the
    file to the data, a disarm removes the alarm."""
    if isinstance(step, Compact):
        return state
    if isinstance(step, Defragment):
        members = tuple(
            replace(
                m, db_size=m.db_size_in_use - history, db_size_in_use=m.db_size_in_use - history
            )
            if m.id == step.member_id
            else m
            for m in state.members
        )
        return replace(state, members=members)
    assert isinstance(step, Disarm)
    return replace(state, alarms=tuple(a for a in state.alarms if a.member_id != step.member_id))


def run(state: ClusterState, policy: MaintenancePolicy, history: int = 0) -> list[Step]:
    """The runner's loop, minus etcd: plan, apply, plan again until Nothing."""
    steps: list[Step] = []
    compacted, defragmented = 0, set[int]()
    while True:
        step = plan(
            state,
            policy,
            now=NOW,
            last_round=NOW - 1,
            in_round=any(isinstance(s, Defragment) for s in steps),
            compacted=compacted,
            defragmented=frozenset(defragmented),
        )
        steps.append(step)
        if isinstance(step, Nothing) or len(steps) > 20:
            return steps
        if isinstance(step, Compact):
            compacted = step.revision
            defragmented.clear()
        if isinstance(step, Defragment):
            defragmented.add(step.member_id)
            history_freed = history if compacted else 0
            state = apply(state, step, history_freed)
        else:
            state = apply(state, step, 0)


def kinds(steps: list[Step]) -> list[str]:
    return [
        f"{type(s).__name__}({getattr(s, 'name', '')})" if not isinstance(s, Nothing) else s.reason
        for s in steps
    ]


def test_nospace_with_history_compacts_defragments_leader_last_then_disarms() -> None:
    state = cluster(
        *three(100 * MiB, 95 * MiB),
        alarms=(Alarm(IDS["m1"], NOSPACE), Alarm(IDS["m2"], NOSPACE)),
    )
    steps = run(state, ON, history=80 * MiB)
    assert kinds(steps) == [
        "Compact()",
        "Defragment(m1)",
        "Defragment(m2)",
        "Defragment(m0)",
        "Disarm(m1)",
        "Disarm(m2)",
        NOT_FRAGMENTED,
    ]


def test_nospace_without_history_compacts_once_then_says_so() -> None:
    steps = run(cluster(*three(100 * MiB, 95 * MiB), alarms=NOSPACE_M1), ON, history=0)
    assert kinds(steps) == [
        "Compact()",
        "Defragment(m1)",
        "Defragment(m2)",
        "Defragment(m0)",
        NO_SPACE_BLOCKED,
    ]


def test_a_round_defragments_each_fragmented_member_once_leader_last() -> None:
    members = three(200 * MiB, 80 * MiB, m2=(200 * MiB, 150 * MiB))  # m2 only 25% free
    steps = run(cluster(*members), MaintenancePolicy(min_interval_in_second=0))
    assert kinds(steps) == ["Defragment(m1)", "Defragment(m0)", NOT_FRAGMENTED]


# --- the view from etcd's answers ----------------------------------------------------------


def status(
    name: str,
    leader: str | None = "m0",
    *,
    errors: tuple[str, ...] = (),
    size: int = 100 * MiB,
    in_use: int = 40 * MiB,
    quota: int = QUOTA,
    revision: int = 500,
) -> EndpointStatus:
    return EndpointStatus(
        IDS[name], IDS[leader] if leader else 0, 10, 2, 10, "3.6.16", size, False, errors,
        revision, in_use, quota,
    )  # fmt: skip


def etcd_member(name: str, *, started: bool = True, learner: bool = False) -> Member:
    peer = (f"https://{name}:2380",)
    return Member(IDS[name], name if started else "", peer, peer if started else (), learner)


ALARM_36 = f"memberID:{IDS['m1']} alarm:NOSPACE "  # etcd 3.6 ends it with a space
ALARM_37 = f"memberID:{IDS['m1']} alarm:NOSPACE"


def test_state_from_answers() -> None:
    state = state_from(
        [
            (etcd_member("m0"), status("m0", errors=(ALARM_36,), revision=501)),
            (etcd_member("m1"), status("m1", errors=(ALARM_37,), size=90 * MiB)),
            (etcd_member("m2"), status("m2", errors=(ALARM_37,))),
        ]
    )
    assert state.alarms == (Alarm(IDS["m1"], NOSPACE),)
    assert state.revision == 501 and state.problem is None
    assert [m.name for m in state.members] == ["m0", "m1", "m2"]
    assert [m.leader for m in state.members] == [True, False, False]
    assert all(m.healthy for m in state.members)  # an alarm is not a member's problem
    assert state.members[1] == MemberState(
        IDS["m1"], "m1", True, False, 90 * MiB, 40 * MiB, QUOTA, None, raft_index=10, applied=10
    )


@pytest.mark.parametrize(
    ("member_", "answer", "problem"),
    [
        (etcd_member("m2", started=False), None, f"{IDS['m2']:x} has not started"),
        (etcd_member("m2", learner=True), status("m2"), "m2 is a learner"),
        (etcd_member("m2"), None, "m2 did not answer"),
        (
            etcd_member("m2"),
            status("m2", errors=("etcdserver: no leader", ALARM_37)),
            "m2: etcdserver: no leader",
        ),
        (etcd_member("m2"), status("m2", leader=None), "m2 knows no leader"),
    ],
    ids=["unstarted", "learner", "silent", "error", "no-leader"],
)
def test_state_from_unhealthy_members(
    member_: Member, answer: EndpointStatus | None, problem: str
) -> None:
    state = state_from([(etcd_member("m0"), status("m0")), (member_, answer)])
    assert state.members[1].problem == problem and not state.members[1].healthy
    assert state.members[0].healthy


def test_state_from_leaders_disagreeing() -> None:
    state = state_from(
        [(etcd_member("m0"), status("m0")), (etcd_member("m1"), status("m1", leader="m1"))]
    )
    assert state.leader is None and state.revision == 0
    assert state.members[0].problem == "m0: the members name different leaders"
    assert plan(state, ON, now=NOW) == Nothing(
        UNHEALTHY,
        "m0: the members name different leaders; m1: the members name different leaders",
    )


def test_no_space_message() -> None:
    state = cluster(*three(95 * MiB, 10 * MiB), alarms=NOSPACE_M1)
    assert no_space_message(state) == (
        "NOSPACE alarm raised by m1: etcd refuses writes (m0 95.0 MiB of 100.0 MiB,"
        " m1 95.0 MiB of 100.0 MiB, m2 95.0 MiB of 100.0 MiB)"
    )
    assert no_space_message(cluster(*three())) is None
    assert no_space_message(ClusterState(alarms=NOSPACE_M1)) == (
        f"NOSPACE alarm raised by {IDS['m1']:x}: etcd refuses writes"
    )


def test_member_state_uses_etcds_default_quota_when_unknown() -> None:
    assert member("m0", quota=0).disarm_line == int(DEFAULT_QUOTA * 0.9)
    assert member("m0", 10, 30).free == 0


# --- the client's side ------------------------------------------------------------------------


def test_status_splits_alarms_from_problems() -> None:
    answer = status("m0", errors=(ALARM_36, "etcdserver: no leader", ALARM_37, "memberID:x"))
    assert answer.alarms == (Alarm(IDS["m1"], NOSPACE), Alarm(IDS["m1"], NOSPACE))
    assert answer.problems == ("etcdserver: no leader", "memberID:x")


@pytest.mark.parametrize(
    ("details", "kind"),
    [
        ("etcdserver: mvcc: database space exceeded", NoSpace),
        ("etcdserver: mvcc: required revision has been compacted", Compacted),
    ],
)
def test_maintenance_refusals_are_named(details: str, kind: type[Exception]) -> None:
    error = error_for(grpc.StatusCode.RESOURCE_EXHAUSTED, details, "10.0.0.1:2379", False)
    assert type(error) is kind and details in str(error)


def test_policy_defaults_apply_when_unset() -> None:
    assert (ON.threshold_percent, ON.min_db_size, ON.min_interval, ON.clears_no_space) == (
        50,
        64 * MiB,
        3600,
        True,
    )
    zeros = MaintenancePolicy.model_validate(
        {
            "fragmentationThresholdPercent": 0,
            "minDbSizeBytes": 0,
            "minIntervalInSecond": 0,
            "clearNoSpace": False,
        }
    )
    assert (zeros.threshold_percent, zeros.min_db_size, zeros.min_interval) == (0, 0, 0)
    assert not zeros.clears_no_space


@pytest.mark.parametrize(
    "field",
    [
        {"fragmentationThresholdPercent": 101},
        {"fragmentationThresholdPercent": -1},
        {"minDbSizeBytes": -1},
        {"minIntervalInSecond": -1},
    ],
)
def test_policy_ranges(field: dict[str, int]) -> None:
    with pytest.raises(ValidationError, match=next(iter(field))):
        MaintenancePolicy.model_validate(field)
