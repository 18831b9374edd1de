#!/usr/bin/env bash
# The full test suite: dependencies, services, lint, typecheck, build, tests.
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_deps
eval "$(bash scripts/services.sh)"
say "lint";      pnpm run -s lint
say "typecheck"; pnpm run -s typecheck
say "build";     pnpm run -s build
say "tests";     pnpm run -s test
