#!/usr/bin/env bash
# Builds the local environment's Go tools (control plane, two etcd minors, the S3 server) into
# a cache outside the checkout, keyed by version, and points .local/bin at them. Reruns are
# no-ops. `hack/build-tools.sh etcd|kube|s3` builds one of them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
source "$here/versions.env"
cache="${ETCD_OPERATOR_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/etcd-operator-py/tools}"
bin="$root/.local/bin"
mkdir -p "$cache" "$bin"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)

log() { echo "build-tools: $*" >&2; }

build_kube() {
  local out="$cache/kubernetes-$KUBE_VERSION"
  if [ ! -f "$out/.complete" ]; then
    log "building kubernetes $KUBE_VERSION (cold: tens of minutes on 2 cores)"
    local ver=${KUBE_VERSION#v} major minor ld="" pkg
    major=${ver%%.*}; minor=$(echo "$ver" | cut -d. -f2)
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ld+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
      ld+=" -X $pkg.gitCommit=module-proxy -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
    done
    mkdir -p "$out"
    for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
      log "  $cmd"
      (cd "$here/tools/kubernetes" && go build -trimpath -ldflags "-s -w $ld" -o "$out/$cmd" "k8s.io/kubernetes/cmd/$cmd")
    done
    touch "$out/.complete"
  fi
  for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    ln -sfn "$out/$cmd" "$bin/$cmd"
  done
}

build_etcd() {
  local v=$1 minor out
  minor=$(echo "${v#v}" | cut -d. -f1,2)
  out="$cache/etcd-$v"
  if [ ! -f "$out/.complete" ]; then
    log "building etcd $v"
    mkdir -p "$out"
    local ld="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=module-proxy"
    (cd "$here/tools/etcd-$minor" &&
      go build -trimpath -ldflags "$ld" -o "$out/etcd" go.etcd.io/etcd/server/v3 &&
      go build -trimpath -ldflags "$ld" -o "$out/etcdctl" go.etcd.io/etcd/etcdctl/v3 &&
      go build -trimpath -ldflags "$ld" -o "$out/etcdutl" go.etcd.io/etcd/etcdutl/v3)
    touch "$out/.complete"
  fi
  # Versioned directories let the node agent pick the binary matching an image's minor.
  ln -sfn "$out" "$bin/etcd-$minor"
}

build_versitygw() {
  local out="$cache/versitygw-$VERSITYGW_VERSION"
  if [ ! -f "$out/.complete" ]; then
    log "building versitygw $VERSITYGW_VERSION (about 2 minutes cold)"
    mkdir -p "$out"
    # A released command: `go install pkg@version` builds it from its own go.mod and go.sum.
    GOFLAGS= GOBIN="$out" go install -trimpath -ldflags "-s -w" \
      "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
    touch "$out/.complete"
  fi
  ln -sfn "$out/versitygw" "$bin/versitygw"
}

start=$SECONDS
what=${1:-all}
if [ "$what" = all ] || [ "$what" = etcd ]; then
  for v in $ETCD_VERSIONS; do build_etcd "$v"; done
  # The newest minor is the default etcd on PATH (the API server's store, etcdctl for users).
  newest=$(echo "${ETCD_VERSIONS##* }" | sed 's/^v//' | cut -d. -f1,2)
  for cmd in etcd etcdctl etcdutl; do ln -sfn "etcd-$newest/$cmd" "$bin/$cmd"; done
fi
if [ "$what" = all ] || [ "$what" = kube ]; then build_kube; fi
if [ "$what" = all ] || [ "$what" = s3 ]; then build_versitygw; fi
log "tools ready in $((SECONDS - start))s"
