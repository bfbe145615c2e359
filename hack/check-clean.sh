#!/usr/bin/env bash
# After `make cluster-down`: fails if the local environment left anything behind — a live
# process started from this checkout's tools, node agent or S3 server, a mount under .local/,
# an `eo-*` network namespace, a host veth of a pod, or the bridge. (Zombies are not
# processes; they wait for PID 1 to reap them.)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
left=()
for pid in $(ls /proc | grep -E '^[0-9]+$'); do
  [ -r "/proc/$pid/stat" ] || continue
  state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || continue
  [ "$state" = Z ] && continue
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
  case "$cmd" in
  *"$ROOT/.local/bin/"* | *"-m nodeagent run"*"$ROOT"*) left+=("process $pid: $cmd") ;;
  # The S3 server however started (e.g. from the tools cache): its data is under .local/.
  *versitygw*"$ROOT/.local/s3"*) left+=("process $pid: $cmd") ;;
  esac
done
while read -r ns _; do [[ "$ns" == eo-* ]] && left+=("network namespace $ns"); done < <(ip netns list)
while read -r _ name _; do
  name=${name%%@*}
  [[ "$name" == eoh* || "$name" == eo0: ]] && left+=("link ${name%:}")
done < <(ip -o link show)
while read -r _ target _; do
  [[ "$target" == "$ROOT/.local/"* ]] && left+=("mount $target")
done </proc/mounts
if ((${#left[@]})); then
  printf 'check-clean: left behind: %s\n' "${left[@]}" >&2
  exit 1
fi
echo "check-clean: nothing left behind" >&2
