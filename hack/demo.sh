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
# Kept when they exist: a running cluster's members trust the CA they were created with.
if kubectl get secret etcd-addops-client-tls >/dev/null 2>&1; then
  echo "secrets etcd-addops-{peer,server,client}-tls exist"
else
  hack/seed-tls.sh example default
fi

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
for _ in $(seq 300); do
  phase=$(kubectl get etcd example -o jsonpath='{.status.phase}/{.status.readyMembers}' 2>/dev/null || true)
  [ "$phase" = "Running/3" ] && break
  sleep 1
done
grep -E "leader|reconcile step" "$log" | cut -c1-160 | head -20

step "status"
kubectl get etcd example
kubectl get pods,pvc -l etcd_cluster=example
kubectl get lease -n default etcd-operator -o custom-columns=LEASE:.metadata.name,HOLDER:.spec.holderIdentity

step "member list, from inside the cluster with the client certificate (etcd-addops-client-tls)"
certs=$(mktemp -d)
trap 'kill -TERM $operator 2>/dev/null; wait $operator 2>/dev/null || true; rm -rf "$certs"' EXIT
for f in etcd-client-ca.crt etcd-client.crt etcd-client.key; do
  kubectl get secret etcd-addops-client-tls -o jsonpath="{.data.${f//./\\.}}" | base64 -d >"$certs/$f"
done
hack/in-cluster etcdctl --cacert="$certs/etcd-client-ca.crt" --cert="$certs/etcd-client.crt" \
  --key="$certs/etcd-client.key" --endpoints=https://example-client.default.svc:2379 \
  member list -w table
