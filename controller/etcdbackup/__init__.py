"""The EtcdBackup reconciler: snapshots of an etcd cluster streamed to S3, once or periodically.

`observe` reads the spec and its Secrets from the cache; `planner.plan` is a pure function
from that, the running task and the time to the one next action; `task` is the backup
itself (snapshot → verified multipart upload → retention), run as a supervised task;
`status` derives what the user sees; `naming` holds the object names and the retention
rule; `setup` wires it into a manager.
"""

from controller.etcdbackup.setup import setup

__all__ = ["setup"]
