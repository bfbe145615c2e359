"""From a container spec to what the launcher needs: program, argv, env, cwd, mounts.

Errors the kubelet reports as a waiting reason (CreateContainerConfigError for env, missing
volumes; CreateContainerError for mounts it cannot make) raise `ConfigError`; a command that
cannot be found becomes `start_error` (the runtime's StartError), as with a real runtime.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.clients.kube import CONFIGMAPS, SECRETS
from nodeagent import mountpoints
from nodeagent.command import CommandError, container_argv, container_path, resolve_program
from nodeagent.envvars import EnvError, build_env, referenced_objects
from nodeagent.expand import expand
from nodeagent.images import ResolvedImage
from nodeagent.mountpoints import MountPointError

if TYPE_CHECKING:
    from nodeagent.podworker import PodWorker

Obj = dict[str, Any]


class ConfigError(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class LaunchPlan:
    spec_path: Path
    program: str
    argv: list[str]
    env: dict[str, str]
    cwd: str
    netns: str | None
    hostname: str | None
    image_id: str
    bin_dirs: list[str]
    mounts: list[dict[str, Any]] = field(default_factory=list)
    start_error: str = ""

    def write(self) -> Path:
        self.spec_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.spec_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(self), f, default=str)
        os.replace(tmp, self.spec_path)
        return self.spec_path

    def resolve_exec(self, command: list[str]) -> list[str]:
        """An exec probe/hook command → [program, argv...] (no $(VAR) expansion there)."""
        if not command:
            raise CommandError("no command specified")
        program = resolve_program(
            command[0], [Path(d) for d in self.bin_dirs], self.env.get("PATH", ""), self.cwd
        )
        return [program, *command]


def service_env(api_host: str, api_port: int) -> dict[str, str]:
    """The `kubernetes` Service's variables; there is no kube-proxy, so the real address."""
    return {
        "KUBERNETES_SERVICE_HOST": api_host,
        "KUBERNETES_SERVICE_PORT": str(api_port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(api_port),
        "KUBERNETES_PORT": f"tcp://{api_host}:{api_port}",
        f"KUBERNETES_PORT_{api_port}_TCP": f"tcp://{api_host}:{api_port}",
        f"KUBERNETES_PORT_{api_port}_TCP_PROTO": "tcp",
        f"KUBERNETES_PORT_{api_port}_TCP_PORT": str(api_port),
        f"KUBERNETES_PORT_{api_port}_TCP_ADDR": api_host,
    }


async def build_plan(worker: PodWorker, spec: Obj, image: ResolvedImage) -> LaunchPlan:
    ctx, sandbox = worker.ctx, worker.sandbox
    assert sandbox is not None
    cfg = ctx.config
    secret_names, configmap_names = referenced_objects(spec)
    secrets = {n: await worker.get_object(SECRETS, n) for n in secret_names}
    configmaps = {n: await worker.get_object(CONFIGMAPS, n) for n in configmap_names}
    base = {
        "PATH": ctx.host_path_env,
        "HOSTNAME": sandbox.hostname,
        "HOME": "/root",
        **image.env,
        **service_env(cfg.api_host, cfg.api_port),
    }
    try:
        env = build_env(
            spec, worker.pod, worker.facts, base, secrets, configmaps, ctx.node_allocatable
        )
    except EnvError as exc:
        raise ConfigError("CreateContainerConfigError", str(exc)) from exc
    env["PATH"] = container_path(image.bin_dirs, env.get("PATH") or ctx.host_path_env)
    cwd = spec.get("workingDir") or image.working_dir or "/"
    restart = worker.records_restart(spec["name"])
    plan = LaunchPlan(
        spec_path=worker.pod_dir / "run" / f"{spec['name']}-{restart}.json",
        program="",
        argv=[],
        env=env,
        cwd=cwd,
        netns=sandbox.netns_path,
        hostname=None if worker.host_network else sandbox.hostname,
        image_id=image.image_id,
        bin_dirs=[str(d) for d in image.bin_dirs],
    )
    try:
        plan.argv = container_argv(spec, image.entrypoint, image.cmd, env)
        plan.program = resolve_program(plan.argv[0], image.bin_dirs, env["PATH"], cwd)
    except CommandError as exc:
        plan.start_error = str(exc)
        return plan
    plan.mounts = _mounts(worker, spec, env, image)
    return plan


def _mounts(worker: PodWorker, spec: Obj, env: dict[str, str], image: ResolvedImage) -> list[Obj]:
    sandbox = worker.sandbox
    assert sandbox is not None
    protected = worker.ctx.protected_paths() + [Path(os.path.realpath(d)) for d in image.bin_dirs]
    mounts: list[Obj] = []
    for vm in spec.get("volumeMounts") or []:
        volume = worker.volumes.get(vm["name"])
        if volume is None:
            raise ConfigError(
                "CreateContainerConfigError", f'volume "{vm["name"]}" is not defined in the pod'
            )
        source = volume.path
        sub = vm.get("subPath") or expand(vm.get("subPathExpr") or "", env)
        if sub:
            if os.path.isabs(sub) or ".." in sub.split("/"):
                raise ConfigError("CreateContainerConfigError", f"invalid subPath {sub!r}")
            source = source / sub
            if not os.path.lexists(source) and not volume.read_only:
                source.mkdir(parents=True, exist_ok=True)
        mounts.append(
            {
                "source": str(source),
                "target": os.path.normpath(vm["mountPath"]),
                "readOnly": bool(vm.get("readOnly")) or volume.read_only,
            }
        )
    targets = {m["target"] for m in mounts}
    for path, target in ((sandbox.hosts, "/etc/hosts"), (sandbox.resolv_conf, "/etc/resolv.conf")):
        if path is not None and target not in targets and not worker.host_network:
            mounts.append({"source": str(path), "target": target, "readOnly": False})
    for m in mounts:
        try:
            if m["target"] not in ("/etc/hosts", "/etc/resolv.conf"):
                mountpoints.check_target(m["target"], protected)
            mountpoints.ensure(
                m["target"], os.path.isdir(m["source"]), worker.ctx.paths.mountpoints
            )
        except (MountPointError, OSError) as exc:
            raise ConfigError("CreateContainerError", str(exc)) from exc
    mounts.sort(key=lambda m: m["target"].count("/"))
    return mounts
