"""Cluster DNS records computed from Services, EndpointSlices and Pods (pure, no I/O).

Follows the Kubernetes DNS specification with one deliberate deviation: there is no
kube-proxy here, so a ClusterIP is unreachable; `<svc>.<ns>.svc.<domain>` of a ClusterIP
Service therefore answers with its ready endpoints' IPs, exactly like a headless Service.
Ports are not translated either: a client connects to the endpoints' (target) port, e.g.
kubernetes.default.svc:6443 rather than :443. Only IPv4; no wildcards; nothing forwarded.

Records served (all names lower-case, relative to `domain`, e.g. cluster.local):
- `<svc>.<ns>.svc`: A for each endpoint that is ready (a missing `ready` counts as ready), or
  every endpoint when the Service has `publishNotReadyAddresses: true`. An existing Service
  with no such endpoints answers NODATA, not NXDOMAIN.
- headless Services only: `<label>.<svc>.<ns>.svc` per published endpoint, the label being
  the endpoint's `hostname` or else its dashed IP; plus, from Pods directly (so a pod is
  resolvable as soon as it has an IP), `<spec.hostname>.<spec.subdomain>.<ns>.svc` when a
  headless Service named like the subdomain exists in the namespace and the pod is Ready
  (or the Service publishes not-ready addresses).
- `_<port>._<proto>.<svc>.<ns>.svc` SRV for each named EndpointSlice port: target is the
  per-endpoint name for headless Services, the Service name otherwise.
- ExternalName Services: a CNAME (never chased; nothing outside the cluster is asked).
- `<a-b-c-d>.<ns>.pod`: A, for pod IPs that exist in that namespace.
- PTR in `in-addr.arpa` for pod IPs in the pod network.
A name `....svc` without the cluster domain is answered as if the domain were appended.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

NOERROR, NXDOMAIN, REFUSED = "NOERROR", "NXDOMAIN", "REFUSED"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class Record:
    """One resource record: owner name (absolute, with the final dot), type, rdata as text."""

    name: str
    rtype: str
    data: str


@dataclass
class Answer:
    rcode: str
    records: list[Record] = field(default_factory=list)
    additional: list[Record] = field(default_factory=list)
    authoritative: bool = True


@dataclass
class _Names:
    a: set[str] = field(default_factory=set)
    srv: set[str] = field(default_factory=set)
    cname: str | None = None


class Zone:
    """An immutable snapshot of every cluster name; `lookup` answers one question."""

    def __init__(self, domain: str, pod_network: str = "10.213.0.0/16"):
        self.domain = domain.strip(".").lower()
        self.origin = self.domain + "."
        self.pod_network = ipaddress.ip_network(pod_network)
        self.names: dict[str, _Names] = defaultdict(_Names)
        self.ptr: dict[str, set[str]] = defaultdict(set)
        self._interior: set[str] = set()

    @property
    def reverse_origin(self) -> str:
        """The reverse zone of the pod network, e.g. 213.10.in-addr.arpa. for a /16."""
        octets = self.pod_network.network_address.packed[: self.pod_network.prefixlen // 8]
        return ".".join(str(b) for b in reversed(octets)) + ".in-addr.arpa."

    def finish(self) -> None:
        """Records every ancestor of a name, so empty non-terminals answer NODATA."""
        for name in self.names:
            labels = name.split(".")
            for i in range(1, len(labels)):
                parent = ".".join(labels[i:])
                if parent.endswith(self.origin):
                    self._interior.add(parent)

    def in_zone(self, qname: str) -> bool:
        """Whether this server is the authority for the name (else it answers REFUSED)."""
        return self.lookup(qname, "A").rcode != REFUSED

    def lookup(self, qname: str, qtype: str) -> Answer:
        owner = qname if qname.endswith(".") else qname + "."
        name = _canonical(qname)
        if name.endswith(".in-addr.arpa."):
            return self._reverse(owner, name, qtype)
        if name.endswith(".svc."):
            name = name + self.origin
        if not (name == self.origin or name.endswith("." + self.origin)):
            return Answer(REFUSED, authoritative=False)
        entry = self.names.get(name)
        if entry is None:
            exists = name == self.origin or name in self._interior
            return Answer(NOERROR if exists else NXDOMAIN)
        if entry.cname and qtype != "CNAME":
            return Answer(NOERROR, [Record(owner, "CNAME", entry.cname)])
        answer = Answer(NOERROR)
        if qtype in ("A", "ANY"):
            answer.records += [Record(owner, "A", ip) for ip in sorted(entry.a, key=_ip_key)]
        if qtype in ("SRV", "ANY"):
            answer.records += [Record(owner, "SRV", srv) for srv in sorted(entry.srv)]
            targets = sorted({srv.split()[-1] for srv in entry.srv})
            for target in targets:
                ips = self.names[target].a if target in self.names else set()
                answer.additional += [Record(target, "A", ip) for ip in sorted(ips, key=_ip_key)]
        if qtype == "CNAME" and entry.cname:
            answer.records.append(Record(owner, "CNAME", entry.cname))
        return answer

    def _reverse(self, owner: str, name: str, qtype: str) -> Answer:
        ip = _ip_from_reverse(name)
        if ip is None or ipaddress.ip_address(ip) not in self.pod_network:
            return Answer(REFUSED, authoritative=False)
        targets = self.ptr.get(ip)
        if not targets:
            return Answer(NXDOMAIN)
        if qtype not in ("PTR", "ANY"):
            return Answer(NOERROR)
        return Answer(NOERROR, [Record(owner, "PTR", t) for t in sorted(targets)])


def build_zone(
    services: Iterable[Obj],
    endpoint_slices: Iterable[Obj],
    pods: Iterable[Obj],
    domain: str = "cluster.local",
    pod_network: str = "10.213.0.0/16",
) -> Zone:
    zone = Zone(domain, pod_network)
    by_key = {(_ns(s), _name(s)): s for s in services}
    slices_by_service: dict[tuple[str, str], list[Obj]] = defaultdict(list)
    for es in endpoint_slices:
        svc_name = (es.get("metadata", {}).get("labels") or {}).get(SERVICE_NAME_LABEL)
        if svc_name and es.get("addressType", "IPv4") == "IPv4":
            slices_by_service[(_ns(es), svc_name)].append(es)
    for key, svc in by_key.items():
        _add_service(zone, svc, slices_by_service.get(key, []))
    for pod in pods:
        _add_pod(zone, pod, by_key)
    zone.finish()
    return zone


def _add_service(zone: Zone, svc: Obj, slices: list[Obj]) -> None:
    spec = svc.get("spec") or {}
    base = f"{_name(svc)}.{_ns(svc)}.svc.{zone.origin}"
    if spec.get("type") == "ExternalName":
        zone.names[base].cname = str(spec.get("externalName", "")).rstrip(".").lower() + "."
        return
    zone.names.setdefault(base, _Names())  # the Service's name exists even without endpoints
    headless = spec.get("clusterIP") == "None"
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    for es in slices:
        named_ports = [p for p in es.get("ports") or [] if p.get("name") and p.get("port")]
        for endpoint in es.get("endpoints") or []:
            ready = (endpoint.get("conditions") or {}).get("ready")
            if not (ready is None or ready or publish_not_ready):
                continue
            for ip in endpoint.get("addresses") or []:
                zone.names[base].a.add(ip)
                target = base
                if headless:
                    label = str(endpoint.get("hostname") or dashed(ip)).lower()
                    target = f"{label}.{base}"
                    zone.names[target].a.add(ip)
                    zone.ptr[ip].add(target)
                for port in named_ports:
                    proto = str(port.get("protocol") or "TCP").lower()
                    srv_name = f"_{port['name']}._{proto}.{base}".lower()
                    zone.names[srv_name].srv.add(f"0 100 {port['port']} {target}")


def _add_pod(zone: Zone, pod: Obj, services: dict[tuple[str, str], Obj]) -> None:
    status = pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return
    ips = [p.get("ip") for p in status.get("podIPs") or []] or [status.get("podIP")]
    ips4 = [ip for ip in ips if ip and ipaddress.ip_address(ip).version == 4]
    if not ips4:
        return
    ns, spec = _ns(pod), pod.get("spec") or {}
    for ip in ips4:
        pod_name = f"{dashed(ip)}.{ns}.pod.{zone.origin}"
        zone.names[pod_name].a.add(ip)
        if ip not in zone.ptr:
            zone.ptr[ip].add(pod_name)
    hostname, subdomain = spec.get("hostname"), spec.get("subdomain")
    svc = services.get((ns, subdomain or ""))
    if not (hostname and svc and (svc.get("spec") or {}).get("clusterIP") == "None"):
        return
    ready = _pod_ready(pod) and not pod.get("metadata", {}).get("deletionTimestamp")
    if not (ready or (svc.get("spec") or {}).get("publishNotReadyAddresses")):
        return
    name = f"{hostname}.{subdomain}.{ns}.svc.{zone.origin}".lower()
    for ip in ips4:
        zone.names[name].a.add(ip)
        zone.ptr[ip].discard(f"{dashed(ip)}.{ns}.pod.{zone.origin}")
        zone.ptr[ip].add(name)


def _pod_ready(pod: Obj) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def dashed(ip: str) -> str:
    return ip.replace(".", "-").replace(":", "-")


def _ip_from_reverse(name: str) -> str | None:
    labels = name[: -len(".in-addr.arpa.")].split(".")
    if len(labels) != 4 or not all(x.isdigit() and int(x) < 256 for x in labels):
        return None
    return ".".join(reversed(labels))


def _canonical(qname: str) -> str:
    name = qname.lower()
    return name if name.endswith(".") else name + "."


def _ip_key(ip: str) -> tuple[int, ...]:
    return tuple(int(x) for x in ip.split(".")) if "." in ip else (0,)


def _ns(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("namespace", ""))


def _name(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("name", ""))
