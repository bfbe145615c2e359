#!/usr/bin/env bash
# Creates the seed's three TLS Secrets (step 2 of the user story) for cluster NAME in NAMESPACE:
#   etcd-addops-client-tls: etcd-client-ca.crt etcd-client.crt etcd-client.key
#   etcd-addops-peer-tls:   peer-ca.crt peer.crt peer.key
#   etcd-addops-server-tls: server-ca.crt server.crt server.key
# One CA signs all three; certificates name every DNS form a member or client uses.
#   usage: hack/seed-tls.sh [NAME=example] [NAMESPACE=default]   (needs .local/env sourced)
set -euo pipefail
name=${1:-example}
ns=${2:-default}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
key() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$dir/$1.key" -subj "/CN=$2" -out "$dir/$1.csr" 2>/dev/null; }
sign() { # name eku san
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n%s\n' "$2" "${3:+subjectAltName=$3}" >"$dir/$1.ext"
  openssl x509 -req -in "$dir/$1.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 825 -extfile "$dir/$1.ext" -out "$dir/$1.crt" 2>/dev/null
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 -keyout "$dir/ca.key" -out "$dir/ca.crt" -subj "/CN=$name-etcd-ca" 2>/dev/null
members="DNS:*.$name.$ns.svc,DNS:*.$name.$ns.svc.cluster.local"
key peer "$name-peer" && sign peer serverAuth,clientAuth "$members"
key server "$name-server" && sign server serverAuth,clientAuth "$members,DNS:$name-client.$ns.svc,DNS:$name-client.$ns.svc.cluster.local,DNS:$name-client,DNS:localhost,IP:127.0.0.1"
key client "$name-client" && sign client clientAuth ""
apply() { kubectl -n "$ns" create secret generic "$1" "${@:2}" --dry-run=client -o yaml | kubectl apply -f - >/dev/null; }
apply etcd-addops-peer-tls --from-file=peer-ca.crt="$dir/ca.crt" --from-file=peer.crt="$dir/peer.crt" --from-file=peer.key="$dir/peer.key"
apply etcd-addops-server-tls --from-file=server-ca.crt="$dir/ca.crt" --from-file=server.crt="$dir/server.crt" --from-file=server.key="$dir/server.key"
apply etcd-addops-client-tls --from-file=etcd-client-ca.crt="$dir/ca.crt" --from-file=etcd-client.crt="$dir/client.crt" --from-file=etcd-client.key="$dir/client.key"
echo "seed-tls: secrets etcd-addops-{peer,server,client}-tls in namespace $ns" >&2
