#!/usr/bin/env bash
# Quick start: installs what Corridor needs, builds it, and runs the main job (`pnpm demo`): the real
# controller on embedded defaults, two node agents and vpnctl in a lab of network namespaces, a
# report of what happened, then it stays up until Ctrl-C and removes everything it made. Everything
# stays on this machine. Pass demo options after `--`, e.g. `bash scripts/quickstart.sh -- --once`.
cd "$(dirname "$0")/.."
. scripts/lib.sh
if [ "$(id -u)" -eq 0 ]; then
  # Build tools for the native addons; iproute2, nftables, procps, ping, curl and tcpdump for the lab.
  apt_install ca-certificates python3 make g++ iproute2 nftables procps iputils-ping curl tcpdump ||
    die "could not install the build and network tools (python3 make g++ iproute2 nftables ...)"
fi
ensure_deps
say "building"
pnpm run -s build || die "build failed; run 'pnpm build' to see why"
say "running the demo"
[ "${1:-}" = "--" ] && shift
pnpm run -s demo "$@"
