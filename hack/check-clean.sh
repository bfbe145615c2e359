#!/usr/bin/env bash
# After `make cluster-down` (CI: .ci/run): fails, listing each with what ties it here, if
# anything the local environment (hack/control-plane.sh, the node agent, hack/in-cluster) or a
# test made is still there. Things are recognised by what ties them to this checkout, not by a
# list of program names:
#
# - a process — not a zombie (it only waits for its parent to reap it), not PID 1, not this
#   script, its callers or its children — whose executable, working directory or command line
#   is in one of our places (below); whose environment points into .local/ (`.local/env`'s
#   PATH, KUBECONFIG and LOCAL_STATE, a pod's PATH to its image's programs) or at the API
#   server the way pods see it (KUBERNETES_SERVICE_HOST=<gateway>), or names the checkout as
#   ETCD_OPERATOR_ROOT; that lives in one of our network namespaces; or whose mount namespace
#   holds a mount of our places (a pod's volumes and files: pods and their children, such as
#   a `sleep 601`, also once their network namespace is gone);
# - a network namespace named eo*: every name the environment and its tests give starts with
#   eo (the node agent's eo-<node>-<uid>, hack/in-cluster's eo-ic-<pid>, the tests' eot<tag>-*);
# - a link named eo* (the bridge eo0, a test's bridge eot<tag>, the veth ends eoh*/eop*), one
#   attached to such a bridge, or a veth whose other end is in such a namespace;
# - a mount at or of one of our places, in the host's mount namespace.
#
# Our places: the checkout; pytest's temp dirs (tests' state and data dirs, mounts they make);
# the scratch copies of `make mutation` (hack/mutation.py).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GATEWAY=$(sed -n 's/^GATEWAY=//p' "$ROOT/hack/control-plane.sh")
TMPBASE=${TMPDIR:-/tmp}
TMPBASE=${TMPBASE%/}
PLACES=("$ROOT" "$TMPBASE/pytest-of-$(id -un)")
MUTATION_COPIES="$TMPBASE/etcd-operator-mutation-" # a prefix: mkdtemp adds a random suffix
left=()

# True if path $1 is one of our places or inside one.
ours() {
  local place
  for place in "${PLACES[@]}"; do
    [[ "$1" == "$place" || "$1" == "$place/"* ]] && return 0
  done
  [[ "$1" == "$MUTATION_COPIES"* ]]
}

# True if text $1 (a command line, words joined by spaces) names one of our places as a path.
mentions_ours() {
  local place
  for place in "${PLACES[@]}"; do
    [[ " $1 " == *[\ =:]"$place"[/\ :]* ]] && return 0
  done
  [[ " $1 " == *[\ =:]"$MUTATION_COPIES"* ]]
}

# Sets STATE and PARENT from /proc/$1/stat (builtins only: no process is started).
read_stat() {
  local line
  { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
  line=${line##*) }
  read -r STATE PARENT _ <<<"$line"
}

# This script's callers (so the CI job running it is not a leftover) and PID 1.
declare -A callers=([1]=1)
pid=$$
while [ "$pid" -gt 1 ] && read_stat "$pid"; do
  callers[$pid]=1
  pid=$PARENT
done

# True if process $1 is this script or was started by it (the commands it runs to look).
mine() {
  local pid=$1
  while [ "$pid" -gt 1 ]; do
    [ "$pid" = $$ ] && return 0
    read_stat "$pid" || return 1
    pid=$PARENT
  done
  return 1
}

# --- mounts ----------------------------------------------------------------------------------
# A mount "of" a place is one whose source is in it: mountinfo shows a bind mount's source as
# a path inside its filesystem (field 4) on a device (field 3), so the checkout is found as
# the same (device, path) pair it has in this mount namespace.
read -r ROOT_DEV ROOT_REL < <(awk -v root="${ROOT// /\\040}" '
  function under(p, dir) { return p == dir || dir == "/" || index(p, dir "/") == 1 }
  under(root, $5) && length($5) >= best { best = length($5); dev = $3; fsroot = $4; at = $5 }
  END {
    rest = at == "/" ? root : substr(root, length(at) + 1)
    rel = (fsroot == "/" ? "" : fsroot) rest
    print dev, (rel == "" ? "/" : rel)
  }' /proc/self/mountinfo)

# The mount points of a mountinfo (stdin) that are at, in or of our places; the mounts holding
# the checkout itself (at it or above it) are not.
ours_in_mountinfo() {
  local places
  places=$(printf '%s\n' "${PLACES[@]}" | sed 's/ /\\040/g')
  awk -v root="${ROOT// /\\040}" -v dev="$ROOT_DEV" -v rel="$ROOT_REL" \
    -v places="$places" -v copies="${MUTATION_COPIES// /\\040}" '
    function under(p, dir) { return p == dir || dir == "/" || index(p, dir "/") == 1 }
    BEGIN { n = split(places, place, "\n") }
    {
      if (under(root, $5)) next
      hit = $3 == dev && under($4, rel)
      for (i = 1; i <= n && !hit; i++) hit = under($5, place[i])
      if (hit || index($5, copies) == 1) print $5
    }'
}

# --- network namespaces ----------------------------------------------------------------------
declare -A netns_inodes=() # net:[inode] -> name, for the processes inside them
while read -r ns _; do
  [[ "$ns" == eo* ]] || continue
  left+=("network namespace $ns")
  inode=$(stat -L -c %i "/run/netns/$ns" 2>/dev/null) && netns_inodes["net:[$inode]"]=$ns
done < <(ip netns list 2>/dev/null)

# --- processes -------------------------------------------------------------------------------
own_mnt=$(readlink /proc/self/ns/mnt)
declare -A host_mounts=()
while read -r point; do host_mounts[$point]=1; done < <(ours_in_mountinfo </proc/self/mountinfo)
declare -A mnt_mounts=() # mnt:[inode] -> the first of our mounts in it ("" if none)
for pid in $(ls /proc | grep -E '^[0-9]+$'); do
  [ -n "${callers[$pid]:-}" ] && continue
  read_stat "$pid" || continue
  [ "$STATE" = Z ] && continue
  [ "$pid" = 2 ] || [ "$PARENT" = 2 ] && continue # kernel threads
  mine "$pid" && continue
  args=() && env=()
  mapfile -d '' args 2>/dev/null <"/proc/$pid/cmdline" || continue
  mapfile -d '' env 2>/dev/null <"/proc/$pid/environ" || true
  cmd=${args[*]:-}
  why=()
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || exe=""
  cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || cwd=""
  ours "$exe" && why+=("executable $exe")
  ours "$cwd" && why+=("working directory $cwd")
  mentions_ours "$cmd" && why+=("command line")
  for var in "${env[@]}"; do
    case "$var" in
    *"$ROOT/.local" | *"$ROOT/.local"[/:]* | "ETCD_OPERATOR_ROOT=$ROOT" | \
      "KUBERNETES_SERVICE_HOST=$GATEWAY")
      why+=("environment ${var%%=*}")
      break
      ;;
    esac
  done
  net=$(readlink "/proc/$pid/ns/net" 2>/dev/null) || net=""
  [ -n "$net" ] && [ -n "${netns_inodes[$net]:-}" ] && why+=("in network namespace ${netns_inodes[$net]}")
  mnt=$(readlink "/proc/$pid/ns/mnt" 2>/dev/null) || mnt=""
  if [ -n "$mnt" ] && [ "$mnt" != "$own_mnt" ]; then
    if [ -z "${mnt_mounts[$mnt]+set}" ]; then
      # Named by its own mounts first (a pod's volumes), else by one copied from the host's.
      mapfile -t points < <(ours_in_mountinfo 2>/dev/null <"/proc/$pid/mountinfo" || true)
      mnt_mounts[$mnt]=${points[0]:-}
      for point in "${points[@]}"; do
        if [ -z "${host_mounts[$point]:-}" ]; then mnt_mounts[$mnt]=$point && break; fi
      done
    fi
    [ -n "${mnt_mounts[$mnt]}" ] && why+=("mounts ${mnt_mounts[$mnt]//\\040/ }")
  fi
  if ((${#why[@]})); then
    reasons=$(IFS=,; echo "${why[*]}")
    left+=("process $pid (${reasons//,/, }): $cmd")
  fi
done

# --- links -----------------------------------------------------------------------------------
while read -r _ name rest; do
  name=${name%:}
  name=${name%%@*}
  if [[ "$name" == eo* ]]; then
    left+=("link $name")
  elif [[ " $rest " == *" master eo"* ]]; then
    master=${rest##* master }
    left+=("link $name (on bridge ${master%% *})")
  elif [[ " $rest " == *" link-netns eo"* ]]; then
    peer=${rest##* link-netns }
    left+=("link $name (its other end in network namespace ${peer%% *})")
  fi
done < <(ip -o link show)

# --- mounts of the host ----------------------------------------------------------------------
while read -r point; do
  left+=("mount ${point//\\040/ }")
done < <(ours_in_mountinfo </proc/self/mountinfo)

if ((${#left[@]})); then
  printf 'check-clean: left behind: %s\n' "${left[@]}" >&2
  exit 1
fi
echo "check-clean: nothing left behind" >&2
