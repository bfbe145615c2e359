"""The generic controller runtime (informers, work queue, manager, leader election, tasks).

Nothing here knows etcd or the v1beta2 API: hack/check-imports.py keeps it that way."""
