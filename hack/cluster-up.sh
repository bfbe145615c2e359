#!/usr/bin/env bash
# Starts the local environment in the background (idempotent: what runs is left alone) and
# prints how to use it. Tools come from `make tools`; state goes under .local/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
start=$SECONDS
"$ROOT/hack/control-plane.sh" start
echo "cluster-up: ready in $((SECONDS - start))s — source .local/env to use it (kubectl, etcdctl on PATH)" >&2
