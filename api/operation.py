"""A durable operation: a multi-step decision recorded in an object's status.

Quorum-loss recovery, restores and upgrades choose things that must not change half-way
(which surviving member, which backup, when a grace period started). The reconciler writes
the choice here, with a resourceVersion precondition, before its first destructive step;
every later pass — after a crash, or on another replica after a leader change — continues
the recorded operation instead of deciding again.
"""

from __future__ import annotations

from pydantic import Field

from api.meta import Timestamp, WireModel


class Operation(WireModel):
    """The operation in progress (ours, not CoreOS's); absent when none is."""

    type: str
    """What is being done, e.g. QuorumRecovery, Upgrade, Restore, Backup."""
    inputs: dict[str, str] = Field(default_factory=dict)
    """The decided inputs, fixed for the operation's life (e.g. survivor, backup object)."""
    started_at: Timestamp | None = None
    """When the operation was decided."""
    phase: str | None = None
    """The last step reached, operation-specific."""
    attempts: int = 0
    """How many times a step has been tried and failed."""
    message: str | None = None
    """Human-readable progress or the last failure."""
