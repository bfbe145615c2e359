#!/usr/bin/env bash
# Stops the local environment and removes its state: no process, mount, network namespace or
# bridge is left behind. The PKI and the tool links under .local/ are kept for the next start.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOCAL="$ROOT/.local"
"$ROOT/hack/control-plane.sh" stop
ip link show eo0 >/dev/null 2>&1 && ip link del eo0
rm -rf "$LOCAL/etcd" "$LOCAL/run" "$LOCAL/nodeagent" "$LOCAL/volumes" "$LOCAL/env"
echo "cluster-down: stopped" >&2
