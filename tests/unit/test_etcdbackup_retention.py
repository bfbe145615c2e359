"""Backup object names and the retention rule (controller/etcdbackup/naming.py).

The CoreOS operator sorted names as strings, so `_v10_` counted as older than `_v9_` and the
newest backup could be the one deleted. Here the newest N by revision, then time, are kept,
and only names this backup writes are ever chosen.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from controller.etcdbackup.naming import is_ours, parse_periodic, periodic_name, to_prune

KEY = "etcd.backup"


def name(revision: int, when: str) -> str:
    return f"{KEY}_v{revision}_{when}"


def test_periodic_names_follow_the_seed() -> None:
    taken = datetime(2019, 10, 11, 8, 53, 40, 999_999, tzinfo=UTC)
    assert periodic_name(KEY, 2, taken) == "etcd.backup_v2_2019-10-11-08:53:40"
    parsed = parse_periodic(KEY, "etcd.backup_v2_2019-10-11-08:53:40")
    assert parsed is not None
    assert (parsed.revision, parsed.taken) == (2, taken.replace(microsecond=0))


@pytest.mark.parametrize(
    "candidate",
    [
        "etcd.backup",  # the one-shot object
        "etcd.backup_v2_2019-10-11-08:53:40.tmp",
        "etcd.backup_v2_2019-10-11-08:53",
        "etcd.backup_vx_2019-10-11-08:53:40",
        "etcd.backup_v02_2019-10-11-08:53:40",  # never written: revisions have no zeros ahead
        "etcd.backup_v2_2019-13-11-08:53:40",  # no 13th month
        "etcd.backup_v1_v2_2019-10-11-08:53:40",  # key etcd.backup_v1's
        "etcdXbackup_v2_2019-10-11-08:53:40",  # the dot is a dot, not any character
        "old/etcd.backup_v2_2019-10-11-08:53:40",
    ],
)
def test_other_names_are_not_this_backups(candidate: str) -> None:
    assert parse_periodic(KEY, candidate) is None
    assert not is_ours(KEY, candidate, periodic=True)


def test_a_one_shot_backup_writes_exactly_its_key() -> None:
    assert is_ours(KEY, KEY, periodic=False)
    assert not is_ours(KEY, name(2, "2019-10-11-08:53:40"), periodic=False)


# (kept names, names to prune), newest first in each; `keep` = len(kept)
CASES = {
    "across revision lengths": (
        [name(100, "2024-01-01-00:00:30"), name(10, "2024-01-01-00:00:20")],
        [name(9, "2024-01-01-00:00:10"), name(2, "2024-01-01-00:00:00")],
    ),
    "time breaks a revision tie": (
        [name(7, "2024-01-02-00:00:00"), name(7, "2024-01-01-23:59:59")],
        [name(7, "2024-01-01-00:00:00")],
    ),
    "revision beats time (a clock that went back)": (
        [name(12, "2023-06-01-00:00:00")],
        [name(11, "2024-01-01-00:00:00")],
    ),
    "not more than there are": (
        [name(3, "2024-01-01-00:00:00"), name(1, "2024-01-01-00:00:00")],
        [],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_the_newest_by_revision_then_time_are_kept(case: str) -> None:
    kept, pruned = CASES[case]
    keep = max(len(kept), 1)
    shuffled = sorted(kept + pruned)  # string order: what must not decide
    assert to_prune(KEY, shuffled, keep) == list(reversed(pruned))  # oldest first


def test_only_names_this_backup_wrote_are_ever_pruned() -> None:
    ours = [name(r, "2024-01-01-00:00:00") for r in (1, 2, 3)]
    others = [
        KEY,  # a one-shot backup of the same key
        "etcd.backup_v1_v1_2024-01-01-00:00:00",  # periodic backups of key etcd.backup_v1
        "etcd.backup_v0_2024-01-01-00:00:00.part",
        "unrelated",
        "other/etcd.backup_v1_2024-01-01-00:00:00",
    ]
    assert to_prune(KEY, ours + others, 1) == ours[:2]
    assert to_prune(KEY, others, 1) == []


def test_max_backups_zero_keeps_everything() -> None:
    names = [name(r, "2024-01-01-00:00:00") for r in range(20)]
    assert to_prune(KEY, names, 0) == []
