#!/usr/bin/env bash
# Runs the concurrency tests under ThreadSanitizer (.bazelrc config tsan,
# halt_on_error=1) with a TSan-instrumented build of Debian's Abseil loaded in
# place of Debian's (scripts/build_tsan_abseil.sh), so absl::Mutex, ours and
# gRPC's, is visible to TSan. Reports inside uninstrumented gRPC are
# suppressed by tests/tsan.supp (each entry says why). Uses its own Bazel
# output base, shut down at the end. Exits non-zero on any failure.
#
#   bash scripts/run_tsan_tests.sh [extra bazel test flags]
set -uo pipefail
cd "$(dirname "$0")/.."

# Every test that runs threads: our own (event loops, reaper, access
# log, metrics) and gRPC's (calls, backends, whole gateways in-process).
# Not here: //gateway/sse:event_stream_response_test crashes under -fsanitize=thread
# with Debian's protobuf (SEGV in google::protobuf::Map::count while loading
# tests/sse_conformance cases, single-threaded, with or without the
# instrumented Abseil); tests that drive separate processes (churn, restarts,
# nginx, browser) are exercised by the main suite.
TESTS=(
  //gateway/sse:sse_serving_test
  //gateway:backend_pool_test
  //gateway/http:http_server_test
  //gateway/http:reaper_test
  //gateway/ops:metrics_test
  //gateway/ops:access_log_test
  //tests:access_log_sink_test
  //core:fanout_hub_test
  //core:multiplexed_event_stream_test
  //core:grpc_stream_call_test
  //core:stream_method_test
  //core:reflection_client_test
  //tests:fanout_test
  //tests:multiplex_test
  //tests:http2_test
  //tests:http2_hardening_test
  //tests:stream_life_test
  //tests:gateway_integration_test
  //tests:sigterm_drain_test
  //tests:operations_test
  //tests:backends_test
  //tests:hostile_requests_test
)

bash scripts/install_deps.sh || exit 1
absl_tsan_libdir=$(bash scripts/build_tsan_abseil.sh) || {
  echo "TSan: building the instrumented Abseil failed"
  exit 1
}

tsan_base="$(bazel info output_base 2>/dev/null)-tsan"
cleanup() { bazel --output_base="$tsan_base" shutdown 2>/dev/null || true; }
trap cleanup EXIT

# Tests open hundreds of sockets (see run_tests.sh).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# As in .bazelrc (config tsan), plus the suppressions, which are not a Bazel
# input (hence --nocache_test_results below).
tsan_options="halt_on_error=1:second_deadlock_stack=1:history_size=7"
tsan_options+=":ignore_noninstrumented_modules=1"

log=$(mktemp)
bazel --output_base="$tsan_base" test --config=tsan --jobs=2 \
  --test_env=LD_LIBRARY_PATH="$absl_tsan_libdir" \
  --test_env=TSAN_OPTIONS="${tsan_options}:suppressions=$PWD/tests/tsan.supp" \
  --nocache_test_results "${TESTS[@]}" --keep_going "$@" 2>&1 |
  grep -v "linux-sandbox" | tee "$log"
status=${PIPESTATUS[0]}
results=$(grep -E '^//[^ ]+ +(\(cached\) )?(PASSED|FAILED|TIMEOUT|NO STATUS|FLAKY|INCOMPLETE|FAILED TO BUILD)' "$log")
rm -f "$log"
passed=$(printf '%s\n' "$results" | grep -cE ' (PASSED|FLAKY)( |$)')
echo "TSan: ${passed} of ${#TESTS[@]} tests passed"
if [ "$status" -ne 0 ] || [ "$passed" -ne "${#TESTS[@]}" ]; then
  echo "TSan: FAILED (bazel test exited with ${status})"
  exit 1
fi
