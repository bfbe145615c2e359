#!/usr/bin/env bash
# The local environment's processes: start, stop, restart or show each component.
#
#   hack/control-plane.sh start [component...]    (default: all, in dependency order)
#   hack/control-plane.sh stop [component...]     (default: all, in reverse order)
#   hack/control-plane.sh restart component...
#   hack/control-plane.sh status
#
# Components: etcd kube-apiserver kube-controller-manager kube-scheduler nodeagent s3.
# State lives under .local/: pki/, run/*.pid, logs/*.log, etcd/ (the API's store), s3/ (the
# S3 server's credentials, generated once, and its buckets).
# The API server and the S3 server listen on the gateway address of the pod bridge, so both
# the host and the pods (in their own network namespaces on that bridge) reach them at the
# same URL.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOCAL="$ROOT/.local"
BIN="$LOCAL/bin"
PKI="$LOCAL/pki"
RUN="$LOCAL/run"
LOGS="$LOCAL/logs"
BRIDGE=eo0
GATEWAY=10.213.0.1
POD_CIDR=10.213.0.0/16
SERVICE_CIDR=10.214.0.0/16
API_PORT=6443
APISERVER="https://$GATEWAY:$API_PORT"
STORE=http://127.0.0.1:12379
NODES=${NODES:-3}
S3_DIR="$LOCAL/s3"
S3_ENDPOINT="http://$GATEWAY:7070"
S3_REGION=us-east-1
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler nodeagent s3)

log() { echo "control-plane: $*" >&2; }
die() { log "$*"; exit 1; }

pid_of() { cat "$RUN/$1.pid" 2>/dev/null || true; }
# Alive and not a zombie: a killed component whose parent has not reaped it yet still
# answers `kill -0`, and must count as stopped so that `start` starts it again.
running() {
  local pid state
  pid=$(pid_of "$1")
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  state=$(sed 's/^.*) //' "/proc/$pid/stat" | cut -d' ' -f1)
  [ "$state" != Z ]
}

# Starts a component detached in its own session, logging to .local/logs/<name>.log.
launch() {
  local name=$1
  shift
  mkdir -p "$RUN" "$LOGS"
  setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
}

wait_until() {
  local what=$1 tries=$2
  shift 2
  for ((i = 0; i < tries; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  die "$what did not come up; see $LOGS/"
}

# --- PKI: one CA, serving and client certs, the service-account key pair. ---------------
issue_cert() { # name subject san ext-key-usage
  local name=$1 subj=$2 san=$3 eku=$4
  [ -f "$PKI/$name.crt" ] && return 0
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -CAcreateserial -days 3650 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

ensure_pki() {
  mkdir -p "$PKI"
  if [ ! -f "$PKI/ca.crt" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -subj "/CN=etcd-operator-local-ca" 2>/dev/null
  fi
  local api_san="DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
  api_san+=",DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
  api_san+=",IP:$GATEWAY,IP:127.0.0.1,IP:10.214.0.1"
  issue_cert apiserver "/CN=kube-apiserver" "$api_san" serverAuth
  issue_cert admin "/O=system:masters/CN=admin" "" clientAuth
  issue_cert kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "" clientAuth
  issue_cert kubelet-serving "/CN=nodeagent" "IP:127.0.0.1,DNS:localhost" serverAuth
  [ -f "$PKI/sa.key" ] || openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  [ -f "$PKI/sa.pub" ] || openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
}

write_kubeconfig() {
  local ca crt key
  ca=$(base64 -w0 <"$PKI/ca.crt")
  crt=$(base64 -w0 <"$PKI/admin.crt")
  key=$(base64 -w0 <"$PKI/admin.key")
  cat >"$LOCAL/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: $APISERVER
    certificate-authority-data: $ca
users:
- name: admin
  user:
    client-certificate-data: $crt
    client-key-data: $key
contexts:
- name: local
  context: {cluster: local, user: admin, namespace: default}
current-context: local
EOF
  chmod 600 "$LOCAL/kubeconfig"
}

# The S3 server's key pair, made once: the same files the seed's `aws` Secret holds
# (AWS shared-file format, profile default; hack/s3-secret.sh copies them into the Secret).
ensure_s3_credentials() {
  mkdir -p "$S3_DIR"
  if [ ! -f "$S3_DIR/credentials" ]; then
    (umask 077 && printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
      "local$(openssl rand -hex 8)" "$(openssl rand -hex 20)" >"$S3_DIR/credentials")
  fi
  [ -f "$S3_DIR/config" ] || printf '[default]\nregion = %s\n' "$S3_REGION" >"$S3_DIR/config"
}

s3_credential() { awk -F' = ' -v k="$1" '$1 == k { print $2 }' "$S3_DIR/credentials"; }

write_env() {
  cat >"$LOCAL/env" <<EOF
# Sourceable: everything a test or a user needs to reach the local environment.
export ETCD_OPERATOR_ROOT=$ROOT
export LOCAL_STATE=$LOCAL
export KUBECONFIG=$LOCAL/kubeconfig
export PATH=$BIN:$ROOT/.venv/bin:\$PATH
export APISERVER=$APISERVER
export CLUSTER_BRIDGE=$BRIDGE
export CLUSTER_GATEWAY=$GATEWAY
export POD_CIDR=$POD_CIDR
export SERVICE_CIDR=$SERVICE_CIDR
export CLUSTER_DNS=$GATEWAY
export CLUSTER_DOMAIN=cluster.local
export API_STORE_ENDPOINT=$STORE
# The S3 server, in the AWS SDKs' own variables (botocore, aws-cli and the Go SDK read them).
export AWS_ENDPOINT_URL_S3=$S3_ENDPOINT
export AWS_ACCESS_KEY_ID=$(s3_credential aws_access_key_id)
export AWS_SECRET_ACCESS_KEY=$(s3_credential aws_secret_access_key)
export AWS_REGION=$S3_REGION
EOF
  chmod 600 "$LOCAL/env" # it holds the S3 key
}

ensure_bridge() {
  ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
  # Captured first: `grep -q` closing the pipe early would fail the pipeline under pipefail.
  local addrs
  addrs=$(ip -4 -o addr show dev "$BRIDGE")
  [[ "$addrs" == *" $GATEWAY/16 "* ]] || ip addr add "$GATEWAY/16" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

api_ready() {
  curl -sf --max-time 3 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "$APISERVER/readyz" >/dev/null
}

start_etcd() {
  launch etcd "$BIN/etcd" --name store --data-dir "$LOCAL/etcd" \
    --listen-client-urls "$STORE" --advertise-client-urls "$STORE" \
    --listen-peer-urls http://127.0.0.1:12380 --initial-advertise-peer-urls http://127.0.0.1:12380 \
    --initial-cluster store=http://127.0.0.1:12380 --unsafe-no-fsync=true \
    --quota-backend-bytes=8589934592 --log-level=warn
  wait_until etcd 120 curl -sf --max-time 2 "$STORE/health"
}

start_kube_apiserver() {
  ensure_bridge
  launch kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers="$STORE" --bind-address="$GATEWAY" --advertise-address="$GATEWAY" \
    --secure-port="$API_PORT" --tls-cert-file="$PKI/apiserver.crt" \
    --tls-private-key-file="$PKI/apiserver.key" --client-ca-file="$PKI/ca.crt" \
    --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true \
    --authorization-mode=RBAC --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --kubelet-client-certificate="$PKI/kubelet-client.crt" \
    --kubelet-client-key="$PKI/kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP,Hostname --profiling=false \
    --cert-dir="$LOCAL/apiserver-certs" --v=1
  wait_until kube-apiserver 240 api_ready
}

start_kube_controller_manager() {
  launch kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig="$LOCAL/kubeconfig" --bind-address=127.0.0.1 --secure-port=10257 \
    --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --controllers='*' --profiling=false --v=1
  wait_until kube-controller-manager 240 curl -sfk --max-time 2 https://127.0.0.1:10257/healthz
}

start_kube_scheduler() {
  launch kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$LOCAL/kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false --profiling=false --v=1
  wait_until kube-scheduler 240 curl -sfk --max-time 2 https://127.0.0.1:10259/healthz
}

nodes_ready() {
  local ready
  ready=$(KUBECONFIG="$LOCAL/kubeconfig" "$BIN/kubectl" get nodes --no-headers 2>/dev/null |
    awk '$2 == "Ready"' | wc -l)
  [ "$ready" -ge "$NODES" ]
}

start_nodeagent() {
  [ -f "$ROOT/hack/nodeagent/__main__.py" ] || { log "node agent not present; skipped"; return 0; }
  PYTHONPATH="$ROOT/hack" launch nodeagent "$ROOT/.venv/bin/python" -m nodeagent run \
    --root "$ROOT" --nodes "$NODES"
  wait_until "nodeagent (Nodes Ready)" 240 nodes_ready
}

# versitygw's POSIX gateway: a bucket is a directory under .local/s3/data.
start_s3() {
  ensure_bridge
  mkdir -p "$S3_DIR/data"
  # The credentials go through the environment: a command line is readable by every user.
  ROOT_ACCESS_KEY=$(s3_credential aws_access_key_id) \
    ROOT_SECRET_KEY=$(s3_credential aws_secret_access_key) \
    launch s3 "$BIN/versitygw" --port "$GATEWAY:${S3_ENDPOINT##*:}" posix "$S3_DIR/data"
  # Any HTTP answer (an anonymous request is refused) means it serves.
  wait_until s3 120 curl -s --max-time 2 -o /dev/null "$S3_ENDPOINT/"
}

start_component() {
  if running "$1"; then return 0; fi
  log "starting $1"
  "start_${1//-/_}"
}

# Stops a component: SIGTERM to its session, up to $2 seconds, then SIGKILL.
stop_component() {
  local name=$1 grace=${2:-15} pid
  pid=$(pid_of "$name")
  if running "$name"; then
    log "stopping $name"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
      running "$name" || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$RUN/$name.pid"
  if [ "$name" = nodeagent ] && [ -f "$ROOT/hack/nodeagent/__main__.py" ]; then
    PYTHONPATH="$ROOT/hack" "$ROOT/.venv/bin/python" -m nodeagent cleanup --root "$ROOT" ||
      log "nodeagent cleanup reported a problem"
  fi
}

grace_of() { [ "$1" = nodeagent ] && echo 60 || echo 15; }

reverse() { local out=() c; for c in "$@"; do out=("$c" "${out[@]}"); done; echo "${out[@]}"; }

cmd=${1:-status}
shift || true
case "$cmd" in
start)
  [ -x "$BIN/kube-apiserver" ] || die "tools missing: run \`make tools\`"
  ensure_pki
  ensure_s3_credentials
  write_kubeconfig
  write_env
  for c in ${@:-${COMPONENTS[@]}}; do start_component "$c"; done
  ;;
stop)
  for c in $(reverse ${@:-${COMPONENTS[@]}}); do stop_component "$c" "$(grace_of "$c")"; done
  ;;
restart)
  [ $# -gt 0 ] || die "restart needs a component"
  for c in "$@"; do stop_component "$c" "$(grace_of "$c")"; done
  for c in "$@"; do start_component "$c"; done
  ;;
status)
  for c in "${COMPONENTS[@]}"; do
    if running "$c"; then echo "$c running (pid $(pid_of "$c"))"; else echo "$c stopped"; fi
  done
  ;;
*) die "unknown command $cmd (start|stop|restart|status)" ;;
esac
