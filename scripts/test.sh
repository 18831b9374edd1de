#!/usr/bin/env bash
# The full test suite: dependencies, services, lint, typecheck, build, tests.
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_test_packages
ensure_deps
eval "$(bash scripts/services.sh)"
say "lint";      pnpm run -s lint
say "typecheck"; pnpm run -s typecheck
say "build";     pnpm run -s build
say "tests"
CORRIDOR_TEST_REPORT_DIR=$(mktemp -d)
export CORRIDOR_TEST_REPORT_DIR
trap 'rm -rf "$CORRIDOR_TEST_REPORT_DIR"' EXIT
status=0
pnpm run -s test || status=$?
say "summary"
node scripts/test-summary.mjs "$CORRIDOR_TEST_REPORT_DIR" || status=1
exit "$status"
