"""What tests assert about a world at rest, and the world in a few lines for their messages."""

from __future__ import annotations

from controller.etcdcluster import naming
from controller.etcdcluster.planner import Steady
from controller.etcdcluster.resources import template_hash
from tests.sim.world import World


def problems(world: World) -> list[str]:
    """How the world differs from a converged cluster at spec.size (empty when it is)."""
    etcd, size = world.etcd, world.size
    found = []
    voters, learners = etcd.voters, etcd.learners
    if len(voters) != size or learners:
        found.append(f"{len(voters)} voters and {len(learners)} learners, want {size}")
    found += [f"member {m.pod} is down" for m in etcd.members.values() if not m.up]
    members = sorted(str(m.pod) for m in etcd.members.values())
    pods = sorted(world.kube.pods)
    if pods != members or any(p.terminating or p.evicted for p in world.kube.pods.values()):
        found.append(f"pods {pods} are not the members' {members}")
    template, version = template_hash(world.cluster), world.cluster.spec.etcd_version
    outdated = [
        p.name
        for p in world.kube.pods.values()
        if p.obj["metadata"]["annotations"].get(naming.TEMPLATE_HASH_ANNOTATION) != template
        or p.obj["metadata"]["annotations"][naming.VERSION_ANNOTATION] != version
    ]
    if outdated:
        found.append(f"pods not rolled to the spec: {sorted(outdated)}")
    volumes = sorted(world.kube.pvcs)
    if volumes != (members if world.pvc else []):
        found.append(f"volumes {volumes}, members {members}")
    name = world.cluster.name
    services = sorted(world.kube.services)
    if services != sorted((name, naming.client_service_name(name))):
        found.append(f"services {services}")
    leader = etcd.leader_member()
    if leader is None:
        found.append("no leader")
    elif any(m.revision != leader.revision for m in etcd.members.values()):
        found.append("members at different revisions after replication")
    return found


def describe(world: World) -> str:
    etcd = world.etcd
    lines = [f"size {world.size}, leader {etcd.leader:x}, committed {etcd.committed}"]
    for m in sorted(etcd.members.values(), key=lambda m: str(m.pod)):
        kind = "learner" if m.learner else "voter"
        lines.append(f"  member {m.pod} {kind} up={m.up} rev={m.revision} name={m.name!r}")
    for p in world.pods():
        lines.append(
            f"  pod {p.name} {p.initial_state} ip={p.ip} running={p.running} "
            f"terminating={p.terminating} evicted={p.evicted} crash={p.crash_loop}"
        )
    lines += [f"  pvc {v.name} terminating={v.terminating}" for v in world.kube.pvcs.values()]
    lines.append(f"  violations: {world.violations}")
    lines.append(f"  last passes: {world.passes[-8:]}")
    return "\n".join(lines)


async def assert_converges(world: World) -> None:
    """With no more faults, the operator brings the world to spec.size and says Steady."""
    action = await world.converge()
    found = problems(world)
    assert action == Steady() and not found and not world.violations, (
        f"{action} {found}\n{describe(world)}"
    )
