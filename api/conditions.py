"""Status conditions, shaped like CoreOS's ClusterCondition, and the helper that maintains them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from api.meta import Timestamp, WireModel


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(WireModel):
    """One aspect of an object's state. A condition may be absent when it does not apply:
    a cluster that is not upgrading has no Upgrading condition."""

    type: str
    """Which aspect, e.g. Available, Scaling, Upgrading, Recovering (see the kinds' constants)."""
    status: ConditionStatus
    """True, False or Unknown."""
    last_update_time: Timestamp | None = None
    """When the operator last changed any part of this condition."""
    last_transition_time: Timestamp | None = None
    """When status last changed from one value to another."""
    reason: str | None = None
    """A CamelCase word for the cause, e.g. ScalingUp, StorageTypeNotSupported."""
    message: str | None = None
    """Human-readable details."""


def conditions_field() -> Any:
    """A status's `conditions` list: at most one per type, a list-map keyed by type in the CRD
    (so server-side apply merges conditions by type)."""
    return Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )


def find_condition(conditions: list[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: datetime,
) -> bool:
    """Adds or updates the condition of `type_` in place; returns whether anything changed.

    lastTransitionTime moves only when status changes, lastUpdateTime whenever anything does,
    and an unchanged condition is left alone so repeated reconciles write nothing.
    """
    current = find_condition(conditions, type_)
    if current is None:
        conditions.append(
            Condition(
                type=type_,
                status=status,
                reason=reason,
                message=message,
                last_update_time=now,
                last_transition_time=now,
            )
        )
        return True
    if (current.status, current.reason, current.message) == (status, reason, message):
        return False
    if current.status != status:
        current.last_transition_time = now
    current.status = status
    current.reason = reason
    current.message = message
    current.last_update_time = now
    return True


def remove_condition(conditions: list[Condition], type_: str) -> bool:
    """Drops the condition of `type_` in place; returns whether it was there."""
    kept = [c for c in conditions if c.type != type_]
    changed = len(kept) != len(conditions)
    conditions[:] = kept
    return changed
