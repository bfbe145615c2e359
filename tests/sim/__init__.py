"""A simulated world for the EtcdCluster planner and executor: Kubernetes (pods, PVCs,
Services), etcd (membership, leader, each member's data) and the processes that join them,
all in memory and deterministic.

The real `observe`, `plan` and `Executor` run against it unchanged: `kube.SimKube` and
`etcd.SimEtcd` answer like the API server and etcd do, `world.World` holds the state, applies
the events a test interleaves (a process starts or dies, a learner catches up, a pod is
deleted or evicted, the operator's cache lags, the size changes, time passes) and runs
operator passes, `moves` turns generated numbers into those events, `safety` records every
request that breaks a rule the operator promises (quorum, the leader, data only one member
holds, one bootstrap, one membership change at a time) in `World.violations`, and `checks`
says how a world at rest differs from a converged cluster.
"""
