#!/usr/bin/env bash
# shellcheck disable=SC2317  # cleanup runs from a trap.
# Runs the browser tests: EventSource in headless Chromium (driven by
# playwright-core, never a downloaded browser) against the real gateway and
# real gRPC backends started as processes on free ports. See README.md.
#
#   bash tests/browser/run.sh            # every *.test.js here
#   bash tests/browser/run.sh FILE...    # only these test files
#
# Installs what it needs (scripts/install_deps.sh, `npm ci`), builds the
# binaries with Bazel, runs `node --test`, prints a per-test summary and exits
# non-zero on any failure. Every process it started is gone when it exits.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
say() { echo "browser tests: $*"; }

bash scripts/install_deps.sh
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

TARGETS=(
  //gateway:sse_gateway
  //examples:demo_backend
  //tests:test_backend_server
  //proto:ticker_cc_proto_descriptor_set
  //proto:testing_cc_proto_descriptor_set
)
bazel build "${TARGETS[@]}"

WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/sse_gateway_browser.XXXXXX")"
NODE_PID=""
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$NODE_PID" ] && kill -0 "$NODE_PID" 2>/dev/null; then
    # node and everything it started (processes, Chromium) share its group.
    kill -TERM -- "-$NODE_PID" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$NODE_PID" 2>/dev/null || break
      sleep 0.1
    done
  fi
  if [ -n "$NODE_PID" ]; then kill -KILL -- "-$NODE_PID" 2>/dev/null || true; fi
  rm -rf "$WORK_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Private copies, so that a concurrent build cannot swap a binary mid-test.
BIN="$(bazel info bazel-bin 2>/dev/null)"
install -m 0755 "$BIN/gateway/sse_gateway" "$WORK_DIR/sse_gateway"
install -m 0755 "$BIN/examples/demo_backend" "$WORK_DIR/demo_backend"
install -m 0755 "$BIN/tests/test_backend_server" "$WORK_DIR/test_backend_server"
install -m 0644 "$BIN/proto/demo/v1/ticker.descriptor_set.pb" "$WORK_DIR/ticker.pb"
install -m 0644 "$BIN/proto/testing/v1/testing.descriptor_set.pb" "$WORK_DIR/testing.pb"
export SSE_GATEWAY_BIN="$WORK_DIR/sse_gateway"
export DEMO_BACKEND_BIN="$WORK_DIR/demo_backend"
export TEST_BACKEND_BIN="$WORK_DIR/test_backend_server"
export TICKER_DESCRIPTORS="$WORK_DIR/ticker.pb"
export TESTING_DESCRIPTORS="$WORK_DIR/testing.pb"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export WORK_DIR

if [ "$#" -gt 0 ]; then
  FILES=("$@")
else
  FILES=(tests/browser/*.test.js)
fi

say "$(node --version), $("$CHROMIUM" --version 2>/dev/null || echo "no $CHROMIUM")"
REPORT="$WORK_DIR/report.tap"
# Its own process group (setsid), so that cleanup reaches every descendant.
status=0
setsid node --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$REPORT" "${FILES[@]}" &
NODE_PID=$!
wait "$NODE_PID" || status=$?

# Summary: one line per test, from the TAP report.
echo
say "summary"
# node's own totals ("# pass N", "# fail N") count tests, not suites.
passed=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$REPORT" | tail -n 1)
failed=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$REPORT" | tail -n 1)
passed=${passed:-0}
failed=${failed:-0}
# The measured numbers: diagnostics starting with one of these.
diagnostics='gateway restart|events|cors|injection|http2|http/1.1 control|compression'
grep -E "^ *(not )?ok [0-9]+ - |^ *# (${diagnostics})" \
  "$REPORT" | sed -e 's/^ */  /' || true
say "${passed} tests passed, ${failed} failed (node exited with ${status})"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
  for log in "$WORK_DIR"/browser-test-*/*.log; do
    [ -s "$log" ] || continue
    echo "--- ${log#"$WORK_DIR"/} (last 40 lines) ---"
    tail -n 40 "$log"
  done
  say "FAILED"
  exit 1
fi
say "PASSED"
