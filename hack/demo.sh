#!/usr/bin/env bash
# `make demo`: the user story on the local environment, as far as the operator goes today.
# Runs after `make install` (control plane, node agent, CRDs). Steps follow
# ../shared/seed/README.md: TLS Secrets, the seed's EtcdCluster applied unchanged, the
# operator (cluster-wide, leader-elected) running inside the cluster network, then status.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
source .local/env
step() { printf '\n== %s\n' "$*"; }

step "control plane and nodes"
kubectl version 2>/dev/null | grep Server
kubectl get nodes

step "CRDs (apiextensions.k8s.io/v1, generated from api/)"
kubectl get crd -o custom-columns=NAME:.metadata.name,VERSIONS:.spec.versions[*].name

step "TLS Secrets of the user story (hack/seed-tls.sh)"
hack/seed-tls.sh example default

step "the seed's example cluster, applied unchanged"
kubectl apply -f tests/fixtures/seed/example-etcd-cluster.yaml
kubectl apply --dry-run=server -f tests/fixtures/seed/periodic_backup_cr.yaml
kubectl apply --dry-run=server -f tests/fixtures/seed/restore_cr.yaml

step "the operator, cluster-wide with leader election, inside the cluster network"
mkdir -p .local/logs
log=.local/logs/demo-operator.log
hack/in-cluster .venv/bin/etcd-operator --cluster-wide --leader-elect \
  --leader-election-namespace default --metrics-bind-address 0 \
  --health-probe-bind-address 0 --log-format text >"$log" 2>&1 &
operator=$!
trap 'kill -TERM $operator 2>/dev/null; wait $operator 2>/dev/null || true' EXIT
for _ in $(seq 60); do
  grep -q "default/example" "$log" && break
  sleep 1
done
grep -E "leader|default/example" "$log" | head -5

step "status"
kubectl get etcd example
kubectl get lease -n default etcd-operator -o custom-columns=LEASE:.metadata.name,HOLDER:.spec.holderIdentity
cat <<'MSG'

The runtime (informers, work queue, leader election) sees the cluster; member pods, their
PVCs and `member list` come with the EtcdCluster lifecycle reconciler (next issue).
MSG
