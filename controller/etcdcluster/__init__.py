"""The EtcdCluster reconciler: observe → plan one action → execute it → status → requeue.

`observe` gathers the cluster's pods, volumes, services, TLS material and etcd's own view;
`planner.plan` is a pure function from that snapshot to the one next action; `executor`
applies it; `status` derives what the user sees; `setup` wires it into a manager.
"""

from controller.etcdcluster.setup import setup

__all__ = ["setup"]
