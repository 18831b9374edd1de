#!/usr/bin/env bash
# Quick start: installs what Corridor needs, builds it, and runs the main job on embedded defaults
# (controller with embedded PostgreSQL and in-process store, node enrollment, ticket, encrypted
# tunnel over loopback UDP). Everything stays on this machine.
cd "$(dirname "$0")/.."
. scripts/lib.sh
if [ "$(id -u)" -eq 0 ]; then
  apt_install ca-certificates python3 make g++ iproute2 || die "could not install build tools (python3 make g++)"
fi
ensure_deps
say "building"
pnpm run -s build || die "build failed; run 'pnpm build' to see why"
say "running the demo"
pnpm run -s demo
