#!/usr/bin/env bash
# Sets up and runs every test: installs the Debian packages that are missing,
# builds everything with Bazel (offline), runs all Bazel tests, then the demo
# smoke check (backend + gateway + curl) and the benchmark smoke run
# (bench/run.sh --smoke: direct client and gateway, small sizes), after
# running the Bazel tests a second time under ASan + UBSan. Ends with the line
# "N passed, N failed" and exits non-zero if anything failed.
#
#   bash scripts/run_tests.sh [extra bazel test flags]
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install_deps.sh || { echo "0 passed, 1 failed"; exit 1; }

# Tests open hundreds of sockets; give the Bazel server (and so the tests it
# starts) the highest open-files limit this shell may have.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Tests see CI (when set): under CI a missing dependency fails a test
# instead of skipping it (tests/test_environment.h).
log=$(mktemp)
bazel test //... --keep_going --test_env=CI "$@" 2>&1 | grep -v "linux-sandbox" | tee "$log"
bazel_status=${PIPESTATUS[0]}

results=$(grep -E '^//[^ ]+ +(\(cached\) )?(PASSED|FAILED|TIMEOUT|NO STATUS|FLAKY|INCOMPLETE|FAILED TO BUILD)' "$log")
passed=$(printf '%s\n' "$results" | grep -cE ' (PASSED|FLAKY)( |$)')
failed=$(printf '%s\n' "$results" | grep -cE ' (FAILED|TIMEOUT|NO STATUS|INCOMPLETE)( |$)')
if [ "$bazel_status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # Bazel failed without a failing test line (e.g. the build broke).
  echo "bazel test exited with $bazel_status"
  failed=$((failed + 1))
fi

# The whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer
# (.bazelrc config asan/ubsan), in its own output base so the default build
# stays cached.
echo "== bazel test --config=asan --config=ubsan"
asan_base="$(bazel info output_base 2>/dev/null)-asan"
bazel --output_base="$asan_base" test --config=asan --config=ubsan \
  //core/... //gateway/... //tests/... //bench/... --keep_going --test_env=CI "$@" 2>&1 |
  grep -v "linux-sandbox" | tee "$log"
asan_status=${PIPESTATUS[0]}
asan_results=$(grep -E '^//[^ ]+ +(\(cached\) )?(PASSED|FAILED|TIMEOUT|NO STATUS|FLAKY|INCOMPLETE|FAILED TO BUILD)' "$log")
passed=$((passed + $(printf '%s\n' "$asan_results" | grep -cE ' (PASSED|FLAKY)( |$)')))
asan_failed=$(printf '%s\n' "$asan_results" | grep -cE ' (FAILED|TIMEOUT|NO STATUS|INCOMPLETE)( |$)')
if [ "$asan_status" -ne 0 ] && [ "$asan_failed" -eq 0 ]; then
  echo "sanitizer bazel test exited with $asan_status"
  asan_failed=1
fi
failed=$((failed + asan_failed))
bazel --output_base="$asan_base" shutdown 2>/dev/null || true
rm -f "$log"

# run_step NAME COMMAND...: runs one non-Bazel test step and counts it.
run_step() {
  local name="$1"
  shift
  echo "== ${name}"
  if "$@"; then
    passed=$((passed + 1))
  else
    echo "${name} FAILED"
    failed=$((failed + 1))
  fi
}

# The demo check and the benchmark smoke run pick free ports themselves: they
# run while the ports people use for the demo (50051, 8080) and the ones the
# benchmarks once used (18080-18082, 50061) are held by another process.
python3 -c '
import socket, sys, time
held = []
for port in sys.argv[1:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", int(port)))
        s.listen()
        held.append(s)
    except OSError:
        pass  # Taken by something else already: just as good.
time.sleep(7200)
' 50051 8080 18080 18081 18082 50061 &
port_holder=$!
run_step "demo smoke check (scripts/run_demo.sh --check)" \
  bash scripts/run_demo.sh --check
run_step "benchmark smoke run (bench/run.sh --smoke)" bash bench/run.sh --smoke
kill "$port_holder" 2>/dev/null
wait "$port_holder" 2>/dev/null
run_step "browser tests (tests/browser/run.sh)" bash tests/browser/run.sh
run_step "fuzzers, 30 s each (scripts/run_fuzzers.sh 30)" bash scripts/run_fuzzers.sh 30
run_step "thread-safety analysis, clang -Werror=thread-safety (scripts/check_thread_safety.sh)" \
  bash scripts/check_thread_safety.sh
run_step "TSan over the concurrency tests (scripts/run_tsan_tests.sh)" bash scripts/run_tsan_tests.sh

echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
