#!/usr/bin/env bash
# A fault test whose external program is missing must fail under CI (CI=true)
# and may only skip outside it: a skip reads as a pass in the CI summary.
# Runs //tests:replica_failover_test with SSE_GATEWAY_NGINX pointing at a
# path that does not exist.
set -uo pipefail

test_binary="${TEST_SRCDIR}/sse_gateway/tests/replica_failover_test"
[ -x "$test_binary" ] || { echo "missing $test_binary"; exit 1; }
filter="--gtest_filter=ReplicaFailoverTest.*"
failures=0

out=$(cd "${TEST_SRCDIR}/sse_gateway" && env CI=true \
  SSE_GATEWAY_NGINX=/nonexistent/nginx "$test_binary" "$filter" 2>&1)
status=$?
if [ "$status" -eq 0 ]; then
  echo "FAIL: with CI=true and no nginx, replica_failover_test exited 0:"
  echo "$out" | tail -20
  failures=$((failures + 1))
elif ! grep -q "a skip would read as a pass" <<<"$out"; then
  echo "FAIL: it failed, but not because nginx is missing:"
  echo "$out" | tail -20
  failures=$((failures + 1))
else
  echo "ok: CI=true and no nginx fails (exit $status)"
fi

out=$(cd "${TEST_SRCDIR}/sse_gateway" && env -u CI \
  SSE_GATEWAY_NGINX=/nonexistent/nginx "$test_binary" "$filter" 2>&1)
status=$?
if [ "$status" -ne 0 ] || ! grep -q "SKIPPED" <<<"$out"; then
  echo "FAIL: without CI, a missing nginx should skip (exit $status):"
  echo "$out" | tail -20
  failures=$((failures + 1))
else
  echo "ok: without CI, no nginx skips"
fi
exit "$failures"
