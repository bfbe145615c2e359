"""Pod IP allocation within a node's /24 (.2 to .254), round-robin so IPs are not reused at once."""

from __future__ import annotations

import ipaddress


class PoolExhausted(Exception):
    pass


class IpPool:
    def __init__(self, subnet: ipaddress.IPv4Network):
        base = int(subnet.network_address)
        self._candidates = [str(ipaddress.IPv4Address(base + i)) for i in range(2, 255)]
        self._used: set[str] = set()
        self._next = 0

    def allocate(self, preferred: str | None = None) -> str:
        """`preferred` (e.g. the IP a pod had before an agent restart) when it is free."""
        if preferred and preferred in self._candidates and preferred not in self._used:
            self._used.add(preferred)
            return preferred
        n = len(self._candidates)
        for step in range(n):
            ip = self._candidates[(self._next + step) % n]
            if ip not in self._used:
                self._used.add(ip)
                self._next = (self._next + step + 1) % n
                return ip
        raise PoolExhausted("no free pod IP left on this node")

    def release(self, ip: str) -> None:
        self._used.discard(ip)

    def in_use(self) -> set[str]:
        return set(self._used)
