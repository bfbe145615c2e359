"""The EtcdRestore reconciler: verifies the backup a restore names, hands the restore to the
EtcdCluster reconciler, and reports it done.

`observe` reads the spec, its Secret and the EtcdCluster of the same name from the cache;
`planner.plan` is a pure function from that, the running task and the time to the one next
action; `task` is the verification (the object streamed from S3 through the SHA-256 trailer
check), run as a supervised task; `status` derives what the user sees, `reasons` is its
vocabulary; `wiring.setup` wires it into a manager (`setup` here calls it). `fetch` is a
separate program: the seed member pod's init container runs it
(`python -m controller.etcdrestore.fetch`) to download the verified backup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controller.options import Options
    from controller.runtime.manager import Manager


def setup(mgr: Manager, opts: Options) -> None:
    # Imported here, not above: the fetch program (an init container) imports this package
    # and needs none of the operator's machinery (the Kubernetes client, gRPC: 0.6 s and
    # 70 MB). The module is not named `setup`: importing it would replace this function.
    from controller.etcdrestore import wiring

    wiring.setup(mgr, opts)


__all__ = ["setup"]
