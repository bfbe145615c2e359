#!/usr/bin/env bash
# Not a test: `make test` RUNS times in a row (default 5) while another CPU-heavy job runs, the
# procedure behind bench/RESULTS.md's "`make test` under CPU load" table (issue 11). Stops at
# the first failure: a retry would hide exactly what this looks for.
#
# The other job is etcd's server built from source over and over (`go build -a -p 1`, a fresh
# GOCACHE each time) from a copy of hack/tools/etcd-3.7 outside the checkout, so `make tools`
# must have run (the module cache). It starts before the first run, keeps going through all of
# them and is stopped when this script ends, however it ends. Each run starts from a stopped
# environment (`make cluster-down`); hack/check-clean.sh runs after the last.
#
# Writes under OUT (default /tmp/etcd-operator-under-load): run<N>.log per run, builds.log of
# the other job, and summary: one line per run with its exit code, seconds, the builds done by
# its end and the load average then — the table's columns. TEST_TARGET (default test) runs
# another make target instead, to try this script quickly.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
out=${OUT:-/tmp/etcd-operator-under-load}
target=${TEST_TARGET:-test}
mkdir -p "$out"
: > "$out/builds.log"
: > "$out/summary"

src=$(mktemp -d /tmp/etcd-operator-load-src.XXXXXX)
cp "$root/hack/tools/etcd-3.7/"{go.mod,go.sum,tools.go} "$src/"
set -m # the job gets a process group of its own, so stopping it stops the go build under it
(
  cd "$src" || exit 1
  export CGO_ENABLED=0 GOFLAGS=-mod=mod
  n=0
  while true; do
    cache=$(mktemp -d /tmp/etcd-operator-load-cache.XXXXXX)
    GOCACHE=$cache go build -a -p 1 -trimpath go.etcd.io/etcd/server/v3 >/dev/null 2>&1 && n=$((n + 1))
    rm -rf "$cache"
    echo "$(date -u +%T) build $n" >> "$out/builds.log"
  done
) &
job=$!
set +m
stop_job() {
  kill -- "-$job" 2>/dev/null
  wait "$job" 2>/dev/null
  rm -rf "$src" /tmp/etcd-operator-load-cache.*
}
trap stop_job EXIT

cd "$root" || exit 1
echo "start $(date -u +%T) commit $(git rev-parse --short HEAD) target $target runs $runs" \
  >> "$out/summary"
failed=0
for run in $(seq 1 "$runs"); do
  make cluster-down > /dev/null 2>&1
  t0=$(date +%s)
  make "$target" > "$out/run$run.log" 2>&1
  rc=$?
  builds=$(tail -n 1 "$out/builds.log" | awk '{print $3}')
  builds=${builds:-0}
  echo "run=$run rc=$rc secs=$(($(date +%s) - t0)) builds=$builds" \
    "load=$(cut -d' ' -f1 /proc/loadavg) end=$(date -u +%T)" >> "$out/summary"
  if [ "$rc" -ne 0 ]; then
    failed=1
    break
  fi
done
stop_job
trap - EXIT
make cluster-down > /dev/null 2>&1
(cd / && "$root/hack/check-clean.sh") >> "$out/summary" 2>&1 || failed=1
echo "done $(date -u +%T)" >> "$out/summary"
cat "$out/summary"
exit "$failed"
