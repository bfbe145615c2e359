"""Fault points: parsed from ETCD_OPERATOR_FAULTS, inert when unset."""

from __future__ import annotations

import pytest

from controller.runtime import faults


def test_parse() -> None:
    assert faults.parse("") == {}
    assert faults.parse("after-member-add:crash, after-pod-create:error,before-member-add") == {
        "after-member-add": "crash",
        "after-pod-create": "error",
        "before-member-add": "crash",
    }


def test_error_mode_raises_and_other_points_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(faults.ENV, "after-member-add:error")
    faults.fault_point("after-pod-create")
    with pytest.raises(faults.InjectedFault):
        faults.fault_point("after-member-add")
