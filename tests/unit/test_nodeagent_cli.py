"""Parsing what comes from outside: kubectl logs query options, taints, image config."""

import argparse

import pytest
from nodeagent.__main__ import parse_taint
from nodeagent.kubeletserver import LogRequestError, parse_options
from nodeagent.logread import parse_timestamp

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def test_log_query_options() -> None:
    opts = parse_options(
        {
            "follow": "true",
            "tailLines": "10",
            "timestamps": "1",
            "limitBytes": "500",
            "sinceSeconds": "60",
        },
        NOW,
    )
    assert (opts.follow, opts.tail_lines, opts.timestamps, opts.limit_bytes) == (
        True,
        10,
        True,
        500,
    )
    assert opts.since == NOW - 60


def test_since_time_and_defaults() -> None:
    opts = parse_options({"sinceTime": "2026-01-01T00:00:00Z"}, NOW)
    assert opts.since == parse_timestamp("2026-01-01T00:00:00Z")
    plain = parse_options({}, NOW)
    assert (plain.follow, plain.tail_lines, plain.since, plain.limit_bytes) == (
        False,
        None,
        None,
        None,
    )


def test_bad_numbers_are_client_errors() -> None:
    with pytest.raises(LogRequestError) as err:
        parse_options({"tailLines": "many"}, NOW)
    assert err.value.status == 400


def test_taints() -> None:
    assert parse_taint("a/b=x:NoSchedule") == {"key": "a/b", "value": "x", "effect": "NoSchedule"}
    assert parse_taint("dedicated:NoExecute") == {"key": "dedicated", "effect": "NoExecute"}
    with pytest.raises(argparse.ArgumentTypeError):
        parse_taint("a=b:Sometimes")
