#!/usr/bin/env bash
# `make demo`: the user story on the local environment, as far as the operator goes today.
# Runs after `make install` (packages, control plane, node agent, CRDs). Steps follow
# ../shared/seed/README.md: TLS Secrets, the seed's EtcdCluster applied unchanged, the
# operator (cluster-wide, leader-elected) running inside the cluster network, then status.
# The wait (hack/demo_wait.py) shows progress and stops at the first state that needs the user.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
source .local/env
step() { printf '\n== %s\n' "$*"; }
mkdir -p .local/logs .local/demo
log=.local/logs/demo-operator.log
certs=.local/demo # the client certificate, kept for the etcdctl line printed at the end

step "control plane and nodes"
kubectl version 2>/dev/null | grep Server
kubectl get nodes

step "CRDs (apiextensions.k8s.io/v1, generated from api/)"
kubectl get crd -o custom-columns=NAME:.metadata.name,VERSIONS:.spec.versions[*].name

step "TLS Secrets of the user story (hack/seed-tls.sh)"
# Kept when they exist: a running cluster's members trust the CA they were created with.
if kubectl get secret etcd-addops-client-tls >/dev/null 2>&1; then
  echo "secrets etcd-addops-{peer,server,client}-tls exist"
else
  hack/seed-tls.sh example default
fi

step "the seed's example cluster, applied unchanged"
since=$(date -u +%Y-%m-%dT%H:%M:%SZ) # older events on the cluster are an earlier run's
kubectl apply -f tests/fixtures/seed/example-etcd-cluster.yaml
kubectl apply --dry-run=server -f tests/fixtures/seed/periodic_backup_cr.yaml
kubectl apply --dry-run=server -f tests/fixtures/seed/restore_cr.yaml

step "the operator, cluster-wide with leader election, inside the cluster network"
hack/in-cluster .venv/bin/etcd-operator --cluster-wide --leader-elect \
  --leader-election-namespace default --metrics-bind-address 0 \
  --health-probe-bind-address 0 --log-format text >"$log" 2>&1 &
operator=$!
trap 'kill -TERM $operator 2>/dev/null; wait $operator 2>/dev/null || true' EXIT
echo "running (log: $log); waiting for 3 ready members"
if ! .venv/bin/python hack/demo_wait.py example --since "$since" \
  --operator-pid "$operator" --operator-log "$log"; then
  echo "demo: stopped; the environment is still up (make cluster-down removes it)" >&2
  exit 1
fi
grep -E "leader|reconcile step.*key=default/example " "$log" | cut -c1-160 | head -20

step "status"
kubectl get etcd example
kubectl get pods,pvc -l etcd_cluster=example
kubectl get lease -n default etcd-operator -o custom-columns=LEASE:.metadata.name,HOLDER:.spec.holderIdentity

step "member list, from inside the cluster with the client certificate (etcd-addops-client-tls)"
for f in etcd-client-ca.crt etcd-client.crt etcd-client.key; do
  kubectl get secret etcd-addops-client-tls -o jsonpath="{.data.${f//./\\.}}" | base64 -d >"$certs/$f"
done
etcdctl_tls="--cacert=$certs/etcd-client-ca.crt --cert=$certs/etcd-client.crt --key=$certs/etcd-client.key"
# shellcheck disable=SC2086 # the TLS flags are three words
hack/in-cluster etcdctl $etcdctl_tls --endpoints=https://example-client.default.svc:2379 \
  member list -w table

step "go on by hand (the demo's operator stops with it)"
cat <<EOF
  source .local/env                # kubectl, etcdctl on PATH
  make run                         # the operator again, in a second terminal
  kubectl get etcd                 # phase, size, ready members
  hack/in-cluster etcdctl $etcdctl_tls \\
      --endpoints=https://example-client.default.svc:2379 endpoint status -w table
  kubectl patch etcd example --type merge -p '{"spec":{"size":5}}'   # scale up (learner first)
  kubectl get etcd example -w      # … Scaling, then Running 5/5; size 3 scales back down
  make cluster-down                # stop everything (make demo starts it again)
EOF
