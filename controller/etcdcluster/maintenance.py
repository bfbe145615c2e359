"""Defragmentation and NOSPACE recovery of one cluster (spec.maintenance): a pure planner,
`plan`: observed state → the one next step.

The planner's rules, in order:

    disabled    no spec.maintenance → Nothing. (A NOSPACE alarm is still worth reporting:
                `no_space_message` works without a policy.)
    corrupt     a CORRUPT alarm → Nothing: a member's data differs; that is for a human.
    no space    a NOSPACE alarm with clearNoSpace false → Nothing, reported.
    unhealthy   any member not answering, answering with an error other than an alarm,
                a learner, or no agreed leader → Nothing. A member being defragmented serves
                nothing, so one more member must never be blocked while another is down.
    catching up a member more than MAX_LAG raft entries behind the leader → Nothing for
                now (the runner waits for it, up to CATCH_UP_WAIT): e.g. the member just
                defragmented, still applying what it missed.
    NOSPACE     with clearNoSpace (the default), the least destructive step that helps:
                  every member's dbSize at most 90% of its quota → Disarm each NOSPACE
                  alarm, one per step (the space is there; below 90% the next write does
                  not raise it again at once);
                  else, when some member over that line holds more data in use than fits
                  under it (or stayed over it after its defragmentation) and the history
                  was not compacted at the current revision → Compact the key history to
                  the leader's revision (drops the history, never current keys);
                  else the members over the line not defragmented since the compaction
                  whose data in use fits under it, or every one of them after a
                  compaction → Defragment one, followers first, the leader last (each
                  once: one still over the line is then stuck). (etcd's dbSizeInUse counts the pages
                  a compaction freed as in use until a later write lets bbolt free them,
                  and NOSPACE refuses writes: only a defragmentation tells what is left.)
                  else → Nothing, NoSpaceBlocked: the data itself does not fit; the user
                  must delete keys or raise the quota. The minimum interval does not apply.
    periodic    fragmentationThresholdPercent > 0: the members whose database file is at
                least minDbSizeBytes and at least that percentage free (dbSize not in use)
                → Defragment one, followers first by name, the leader last; the next round
                starts no sooner than minIntervalInSecond after the last one ended (members
                of one round go back to back).

The runner, which applies these steps against the members, is maintenance_runner.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from api.cluster import MaintenancePolicy
from controller.clients.etcd import (
    CORRUPT,
    NOSPACE,
    Alarm,
    EndpointStatus,
    Member,
)

# A NOSPACE alarm is disarmed once every member's database file is at most this share of its
# quota: the room a disarm gives must outlast the next few writes.
DISARM_SHARE = 0.9
DEFAULT_QUOTA = 2 * 1024**3  # etcd's --quota-backend-bytes default (for members that omit it)
# A member more than this many raft entries behind the leader is still catching up (after
# its own defragmentation, say): the next step waits for it, so members are blocked one
# after another, never two at once, and a lagging member's dbSize is not read mid-growth.
MAX_LAG = 50
CATCH_UP_RETRY = 0.5  # seconds between looks at a member catching up
# How often a steady cluster with spec.maintenance is worth planning for again: nothing in
# Kubernetes changes when a database fragments or an alarm goes off.
CHECK_INTERVAL = 60.0


# --- what the planner reads ------------------------------------------------------------------


@dataclass(frozen=True)
class MemberState:
    """One member as the planner sees it."""

    id: int
    name: str  # etcd's member name (the pod's), or the ID in hex before it started
    healthy: bool
    leader: bool = False
    db_size: int = 0  # bytes of its database file
    db_size_in_use: int = 0  # of which in use; defragmentation frees the rest
    quota: int = 0  # its --quota-backend-bytes; 0: unknown (etcd's default is assumed)
    problem: str | None = None  # why it is not healthy
    raft_index: int = 0  # its raft log's last index (the leader's: what all must apply)
    applied: int = 0  # the raft index it has applied

    @property
    def free(self) -> int:
        return max(0, self.db_size - self.db_size_in_use)

    @property
    def effective_quota(self) -> int:
        return self.quota or DEFAULT_QUOTA

    @property
    def disarm_line(self) -> int:
        """The dbSize at or below which a NOSPACE alarm may be disarmed."""
        return int(self.effective_quota * DISARM_SHARE)


@dataclass(frozen=True)
class ClusterState:
    """The members, the cluster's active alarms and the leader's key-value revision;
    `problem` says why there is no view at all (no member answered, no quorum)."""

    members: tuple[MemberState, ...] = ()
    alarms: tuple[Alarm, ...] = ()
    revision: int = 0
    problem: str | None = None

    @property
    def leader(self) -> MemberState | None:
        return next((m for m in self.members if m.leader), None)

    def name_of(self, member_id: int) -> str:
        member = next((m for m in self.members if m.id == member_id), None)
        return member.name if member is not None else f"{member_id:x}"


def state_from(members: Iterable[tuple[Member, EndpointStatus | None]]) -> ClusterState:
    """The planner's view from etcd's member list and each member's status (None: it did not
    answer). The reconciler has both already: `observed.etcd.members` as
    `(view.member, view.status)`. Alarms come from the statuses (every member lists every
    alarm), the leader is the one the answering members agree on."""
    pairs = list(members)
    statuses = [s for _, s in pairs if s is not None]
    leaders = {s.leader for s in statuses if s.leader}  # one knowing none is unhealthy
    leader = leaders.pop() if len(leaders) == 1 else 0
    alarms = sorted({a for s in statuses for a in s.alarms}, key=lambda a: (a.alarm, a.member_id))
    views = tuple(_member_state(m, s, leader) for m, s in pairs)
    revision = next((s.revision for s in statuses if s.member_id == leader), 0)
    return ClusterState(members=views, alarms=tuple(alarms), revision=revision)


def _member_state(member: Member, status: EndpointStatus | None, leader: int) -> MemberState:
    name = member.name or f"{member.id:x}"
    problem = None
    if not member.started:
        problem = f"{name} has not started"
    elif member.is_learner:
        problem = f"{name} is a learner"
    elif status is None:
        problem = f"{name} did not answer"
    elif status.problems:
        problem = f"{name}: {'; '.join(status.problems)}"
    elif status.leader == 0:
        problem = f"{name} knows no leader"
    elif leader == 0:
        problem = f"{name}: the members name different leaders"
    return MemberState(
        id=member.id,
        name=name,
        healthy=problem is None,
        leader=member.id == leader != 0,
        db_size=status.db_size if status else 0,
        db_size_in_use=status.db_size_in_use if status else 0,
        quota=status.db_size_quota if status else 0,
        raft_index=status.raft_index if status else 0,
        applied=status.raft_applied_index if status else 0,
        problem=problem,
    )


# --- what the planner decides ----------------------------------------------------------------


@dataclass(frozen=True)
class Nothing:
    """No step: `reason` (one word) and `message` say why; `retry_at` (the planner's clock)
    when it is worth planning again without any change, e.g. the end of the interval."""

    reason: str
    message: str
    retry_at: float | None = None


@dataclass(frozen=True)
class Defragment:
    member_id: int
    name: str
    reason: str  # FRAGMENTED or NO_SPACE
    message: str
    leader: bool = False  # the member leads (so every other member due is done)


@dataclass(frozen=True)
class Compact:
    revision: int
    message: str


@dataclass(frozen=True)
class Disarm:
    member_id: int
    name: str
    alarm: str = NOSPACE


Step = Nothing | Defragment | Compact | Disarm

# Nothing's reasons.
DISABLED = "Disabled"
CORRUPTED = "Corrupt"
NO_SPACE = "NoSpace"  # NOSPACE alarm, clearNoSpace false (also Defragment's NOSPACE reason)
NO_SPACE_BLOCKED = "NoSpaceBlocked"  # compacted and defragmented, the data does not fit
UNHEALTHY = "Unhealthy"
CATCHING_UP = "CatchingUp"
OTHER_ALARM = "Alarm"
NOT_FRAGMENTED = "NotFragmented"
INTERVAL = "Interval"
NO_PROGRESS = "NoProgress"  # the runner's: a member it defragmented is due again
FRAGMENTED = "Fragmented"  # Defragment's reason for the periodic rule


def plan(
    state: ClusterState,
    policy: MaintenancePolicy | None,
    *,
    now: float,
    last_round: float | None = None,
    in_round: bool = False,
    compacted: int = 0,
    defragmented: frozenset[int] = frozenset(),
) -> Step:
    """The next maintenance step (module docstring). `last_round`: when the last
    defragmentation round ended (same clock as `now`; None: never, or forgotten);
    `in_round`: this run already defragmented a member, so the interval does not apply;
    `compacted`: the revision this run compacted at (0: none); `defragmented`: the members
    this run defragmented since that compaction."""
    if policy is None:
        return Nothing(DISABLED, "spec.maintenance is not set")
    if corrupt := [a for a in state.alarms if a.alarm == CORRUPT]:
        names = ", ".join(state.name_of(a.member_id) for a in corrupt)
        return Nothing(CORRUPTED, f"CORRUPT alarm raised by {names}: left to a human")
    no_space = [a for a in state.alarms if a.alarm == NOSPACE]
    if no_space and not policy.clears_no_space:
        message = no_space_message(state) or ""
        return Nothing(NO_SPACE, f"{message}; spec.maintenance.clearNoSpace is false")
    if (problem := unhealthy(state)) is not None:
        return Nothing(UNHEALTHY, problem)
    if (behind := lagging(state)) is not None:
        return Nothing(CATCHING_UP, behind, retry_at=now + CATCH_UP_RETRY)
    if no_space:
        return _recover(state, no_space, compacted, defragmented)
    if state.alarms:
        kinds = ", ".join(sorted({a.alarm for a in state.alarms}))
        return Nothing(OTHER_ALARM, f"alarm {kinds} is active")
    return _periodic(state, policy, now, last_round, in_round)


def unhealthy(state: ClusterState) -> str | None:
    """Why the cluster may not be maintained now, None when every member is healthy."""
    if state.problem is not None:
        return state.problem
    if not state.members:
        return "no member"
    if problems := [m.problem or m.name for m in state.members if not m.healthy]:
        return "; ".join(problems)
    if state.leader is None:
        return "no leader"
    return None


def lagging(state: ClusterState) -> str | None:
    """Which members are more than MAX_LAG entries behind the leader, None when none is."""
    leader = state.leader
    if leader is None:
        return None
    behind = [
        f"{m.name} applied {m.applied} of {leader.raft_index}"
        for m in state.members
        if leader.raft_index - m.applied > MAX_LAG
    ]
    return f"catching up: {', '.join(behind)}" if behind else None


def _recover(
    state: ClusterState, alarms: list[Alarm], compacted: int, defragmented: frozenset[int]
) -> Step:
    over = [m for m in state.members if m.db_size > m.disarm_line]
    if not over:
        first = min(alarms, key=lambda a: a.member_id)
        return Disarm(first.member_id, state.name_of(first.member_id))
    fits = [m for m in over if m.db_size_in_use <= m.disarm_line]
    stuck = [m for m in over if m not in fits or m.id in defragmented]
    if stuck and compacted < state.revision:
        message = f"NOSPACE: the data in use does not fit; compacting to revision {state.revision}"
        return Compact(state.revision, message)
    compacted_now = compacted >= state.revision
    # Each member over the line is defragmented once (since the last compaction): when its
    # data fits, and after a compaction whatever its dbSizeInUse says (it may still count the
    # pages the compaction freed).
    due = [m for m in over if m.id not in defragmented and (m in fits or compacted_now)]
    if due:
        member = _in_order(due)[0]
        shown = (
            f", {human_size(member.db_size_in_use)} in use" if member in fits else " (compacted)"
        )
        message = (
            f"NOSPACE: {member.name} has {human_size(member.db_size)} of a"
            f" {human_size(member.effective_quota)} quota{shown}"
        )
        return Defragment(member.id, member.name, NO_SPACE, message, member.leader)
    worst = max(over, key=lambda m: m.db_size_in_use / m.effective_quota)
    return Nothing(
        NO_SPACE_BLOCKED,
        f"NOSPACE: {worst.name} holds {human_size(worst.db_size_in_use)} in use after compaction,"
        f" over {DISARM_SHARE:.0%} of its {human_size(worst.effective_quota)} quota: delete keys,"
        " or raise the quota (ETCD_QUOTA_BACKEND_BYTES in spec.pod.etcdEnv)",
    )


def _periodic(
    state: ClusterState,
    policy: MaintenancePolicy,
    now: float,
    last_round: float | None,
    in_round: bool,
) -> Step:
    threshold = policy.threshold_percent
    if threshold == 0:
        return Nothing(DISABLED, "spec.maintenance.fragmentationThresholdPercent is 0")
    due = [
        m
        for m in state.members
        if m.db_size > 0
        and m.db_size >= policy.min_db_size
        and m.free * 100 >= threshold * m.db_size
    ]
    if not due:
        return Nothing(
            NOT_FRAGMENTED,
            f"no member is {threshold}% free with at least {human_size(policy.min_db_size)}",
        )
    if not in_round and last_round is not None:
        next_round = last_round + policy.min_interval
        if now < next_round:
            return Nothing(
                INTERVAL,
                f"{', '.join(m.name for m in _in_order(due))} fragmented; the last"
                f" defragmentation ended {now - last_round:.0f}s ago, the next may start"
                f" in {next_round - now:.0f}s",
                retry_at=next_round,
            )
    member = _in_order(due)[0]
    share = member.free * 100 // member.db_size
    message = f"{member.name}: {share}% of {human_size(member.db_size)} free"
    return Defragment(member.id, member.name, FRAGMENTED, message, member.leader)


def _in_order(members: Iterable[MemberState]) -> list[MemberState]:
    """Followers by name, the leader last."""
    return sorted(members, key=lambda m: (m.leader, m.name))


def no_space_message(state: ClusterState) -> str | None:
    """What a Degraded condition (reason NoSpace) should say while a NOSPACE alarm is
    active, None when none is: which members raised it and how full each member is."""
    alarms = [a for a in state.alarms if a.alarm == NOSPACE]
    if not alarms:
        return None
    raised = ", ".join(sorted(state.name_of(a.member_id) for a in alarms))
    sizes = ", ".join(
        f"{m.name} {human_size(m.db_size)} of {human_size(m.effective_quota)}"
        for m in sorted(state.members, key=lambda m: m.name)
        if m.db_size
    )
    message = f"NOSPACE alarm raised by {raised}: etcd refuses writes"
    return f"{message} ({sizes})" if sizes else message


def human_size(n: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


__all__ = [
    "CHECK_INTERVAL",
    "DEFAULT_QUOTA",
    "DISARM_SHARE",
    "ClusterState",
    "Compact",
    "Defragment",
    "Disarm",
    "MemberState",
    "Nothing",
    "Step",
    "human_size",
    "no_space_message",
    "plan",
    "state_from",
    "unhealthy",
]
