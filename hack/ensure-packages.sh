#!/usr/bin/env bash
# Makes sure the Debian packages in hack/packages.txt are installed. As root, installs the
# missing ones (one `apt-get update` first); otherwise prints the command that would and fails,
# so that nothing starts on a machine that cannot run it.
set -euo pipefail
list="$(cd "$(dirname "$0")" && pwd)/packages.txt"
log() { echo "packages: $*" >&2; }

if ! command -v dpkg-query >/dev/null; then
  log "not a Debian machine: make sure what $list names is installed"
  exit 0
fi

missing=()
while read -r pkg; do
  # `dpkg -s` also succeeds for a removed package whose config files are left ("rc").
  status=$(dpkg-query -W -f '${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
  [[ "$status" == ii* ]] || missing+=("$pkg")
done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$list" | awk '{print $1}')

((${#missing[@]})) || exit 0
install=(apt-get install -y -q --no-install-recommends "${missing[@]}")
if [ "$(id -u)" -ne 0 ]; then
  log "missing: ${missing[*]}; install them as root with:"
  echo "  apt-get update && ${install[*]}" >&2
  exit 1
fi
log "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# apt's chatter (debconf notes included) is shown only when something fails.
if ! { apt-get update -q && "${install[@]}"; } >"$out" 2>&1; then
  cat "$out" >&2
  log "could not install ${missing[*]}"
  exit 1
fi
log "installed ${missing[*]}"
