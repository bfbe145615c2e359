"""Command line: `python -m nodeagent run|cleanup --root <checkout> ...` (PYTHONPATH=hack).

run      register --nodes Nodes and run the pods bound to them until SIGTERM
cleanup  remove every process, namespace, veth, mount point and the bridge a run left
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from nodeagent.config import AgentConfig, StatePaths


def parse_taint(text: str) -> dict[str, str]:
    """`key=value:Effect` (or `key:Effect`) → a Node taint."""
    rest, _, effect = text.rpartition(":")
    key, _, value = rest.partition("=")
    if not key or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
        raise argparse.ArgumentTypeError(f"invalid taint {text!r}")
    return (
        {"key": key, "value": value, "effect": effect} if value else {"key": key, "effect": effect}
    )


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, AgentConfig]:
    """The options, with `cmd`: what follows `--` (exec's command)."""
    cut = argv.index("--") if "--" in argv else len(argv)
    argv, cmd = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(
        prog="nodeagent", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["run", "cleanup", "exec", "kill"])
    parser.add_argument("pod", nargs="?", help="exec/kill: namespace/name")
    parser.add_argument("-c", "--container")
    parser.add_argument("--signal", default="KILL")
    parser.add_argument("--root", type=Path, required=True, help="the checkout")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--kubeconfig", type=Path, help="default <root>/.local/kubeconfig")
    parser.add_argument("--state-dir", type=Path, help="default <root>/.local/nodeagent")
    parser.add_argument("--images", type=Path, help="extra image rules (YAML/JSON)")
    parser.add_argument("--node-prefix", default="node-")
    parser.add_argument("--netns-prefix", default="eo-")
    parser.add_argument("--bridge", default="eo0")
    parser.add_argument("--gateway", default="10.213.0.1")
    parser.add_argument("--kubelet-port-base", type=int, default=10250)
    parser.add_argument("--first-node", type=int, default=1, help="number of the first Node")
    parser.add_argument(
        "--taint",
        action="append",
        default=[],
        metavar="KEY=VALUE:EFFECT",
        help="register the Nodes with this taint (repeatable)",
    )
    parser.add_argument("--no-dns", action="store_true", help="do not serve cluster DNS")
    parser.add_argument("--no-provisioner", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_intermixed_args(argv)
    args.cmd = cmd
    root = args.root.resolve()
    config = AgentConfig(
        root=root,
        nodes=args.nodes,
        kubeconfig=args.kubeconfig,
        state_dir=args.state_dir.resolve() if args.state_dir else None,
        images_file=args.images,
        node_prefix=args.node_prefix,
        netns_prefix=args.netns_prefix,
        bridge=args.bridge,
        gateway=args.gateway,
        cluster_dns=args.gateway,
        api_host=args.gateway,
        kubelet_port_base=args.kubelet_port_base,
        first_node=args.first_node,
        taints=tuple(parse_taint(t) for t in args.taint),
        run_dns=not args.no_dns,
        run_provisioner=not args.no_provisioner,
    )
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return args, config


def main(argv: list[str] | None = None) -> int:
    args, config = parse_args(sys.argv[1:] if argv is None else argv)
    command = args.command
    if command in ("exec", "kill"):
        from nodeagent import hostcmd

        rest = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        return hostcmd.main(
            command,
            StatePaths(config.state).procs,
            args.pod or "",
            args.container,
            rest,
            args.signal,
        )
    if command == "cleanup":
        from nodeagent.cleanup import cleanup

        asyncio.run(cleanup(config, StatePaths(config.state)))
        return 0
    from nodeagent.agent import run

    return asyncio.run(run(config))


if __name__ == "__main__":
    sys.exit(main())
