"""The kubelet's crash back-off (also used for image pulls).

Mirrors k8s.io/client-go/util/flowcontrol.Backoff as the kubelet uses it: the first crash
restarts at once and arms a 10 s back-off; a crash within the current back-off window of the
previous restart waits until the window ends, and each restart doubles the window up to 5 min.
An entry idle for twice the maximum (10 min, e.g. a container that ran that long) starts over.
"""

from __future__ import annotations

from dataclasses import dataclass

INITIAL = 10.0
MAXIMUM = 300.0


@dataclass
class _Entry:
    backoff: float
    last_update: float


class Backoff:
    def __init__(self, initial: float = INITIAL, maximum: float = MAXIMUM):
        self.initial = initial
        self.maximum = maximum
        self._entries: dict[str, _Entry] = {}

    def _expired(self, entry: _Entry, now: float) -> bool:
        return now - entry.last_update > 2 * self.maximum

    def delay(self, key: str, finished_at: float, now: float) -> float:
        """Seconds still to wait (from `now`) before restarting what finished at finished_at."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, finished_at):
            return 0.0
        if finished_at - entry.last_update < entry.backoff:
            return max(0.0, entry.last_update + entry.backoff - now)
        return 0.0

    def next(self, key: str, now: float) -> float:
        """Records a restart at `now`; returns the new back-off window."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, now):
            entry = _Entry(self.initial, now)
        else:
            entry = _Entry(min(entry.backoff * 2, self.maximum), now)
        self._entries[key] = entry
        return entry.backoff

    def window(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry.backoff if entry else self.initial

    def reset(self, key: str) -> None:
        self._entries.pop(key, None)
