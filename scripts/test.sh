#!/usr/bin/env bash
# Runs every test: static checks (generated code up to date, proto compatibility, tsc,
# eslint, buf lint/format), then the unit and integration suites. Tests that need what the
# machine lacks (root, QEMU, network namespaces) skip visibly with their reason.
# Last line: "N passed, N failed, N skipped" (static checks count as one test each).
set -uo pipefail
cd "$(dirname "$0")/.."
export NO_COLOR=1 FORCE_COLOR=0

check_pass=0
check_fail=0
run_check() {
  local name=$1
  shift
  echo "==> $name"
  if "$@"; then
    check_pass=$((check_pass + 1))
  else
    echo "CHECK FAILED: $name"
    check_fail=$((check_fail + 1))
  fi
}

run_check "generated code is up to date" bash scripts/generate.sh --check
run_check "proto changes are backward compatible" bash scripts/generate.sh --breaking
run_check "lint (tsc, eslint, buf)" bash scripts/lint.sh
# The launchers run the compiled bundles (the integration project's globalSetup rebuilds too).
run_check "build (npm run build)" npm run --silent build

mkdir -p .test-results
echo "==> vitest (unit + integration)"
npx vitest run --reporter=default --reporter=json --outputFile=.test-results/vitest.json "$@"
vitest_rc=$?

node scripts/summarize-tests.mjs .test-results/vitest.json "$check_pass" "$check_fail"
summary_rc=$?
if [ "$vitest_rc" -ne 0 ] || [ "$check_fail" -ne 0 ] || [ "$summary_rc" -ne 0 ]; then exit 1; fi
