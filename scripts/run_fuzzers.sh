#!/usr/bin/env bash
# Builds the four libFuzzer targets with clang-14 (.bazelrc config "fuzz":
# libFuzzer + ASan + UBSan, in its own Bazel output base so the default gcc
# build stays cached) and runs each for SECONDS (default 30) on a copy of its
# seed corpus (fuzz/corpus/<fuzzer>/, never modified here) with its
# dictionary (fuzz/<fuzzer>.dict). Prints, per target: executions, exec/s,
# coverage (cov/ft), corpus size and findings (crash/leak/timeout/oom files,
# kept under the printed work directory); exits non-zero if any target found
# anything or could not run. See fuzz/README.md.
#
#   bash scripts/run_fuzzers.sh [SECONDS]
#   FUZZ_OUTPUT_BASE=~/.cache/bazel_fuzz bash scripts/run_fuzzers.sh 300
set -uo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
case "$seconds" in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

bash scripts/install_deps.sh || exit 1

FUZZERS=(
  fuzz:sse_framer_fuzzer
  fuzz:request_builder_fuzzer
  fuzz:json_renderer_fuzzer
  fuzz:config_fuzzer
  fuzz:compound_event_id_fuzzer
  fuzz:http2_session_fuzzer
)

# The fuzz build's own output base (FUZZ_OUTPUT_BASE overrides it); its
# Bazel server is shut down at the end unless FUZZ_OUTPUT_BASE was given.
output_base="${FUZZ_OUTPUT_BASE:-$(bazel info output_base 2>/dev/null)-fuzz}"
targets=()
for fuzzer in "${FUZZERS[@]}"; do targets+=("//${fuzzer}"); done
echo "run_fuzzers: building ${targets[*]} (output base ${output_base})"
bazel --output_base="$output_base" build --config=fuzz "${targets[@]}" 2>&1 |
  grep -v "linux-sandbox"
if [ "${PIPESTATUS[0]}" -ne 0 ]; then
  echo "run_fuzzers: build failed"
  exit 1
fi
bin="$(bazel --output_base="$output_base" info --config=fuzz bazel-bin 2>/dev/null)"
if [ ! -d "$bin" ]; then
  echo "run_fuzzers: no bazel-bin in $output_base"
  exit 1
fi

work="$(mktemp -d -t sse-gateway-fuzz.XXXXXX)"
fuzzer_pid=""
cleanup() {
  if [ -n "$fuzzer_pid" ]; then kill "$fuzzer_pid" 2>/dev/null || true; fi
  if [ -z "${FUZZ_OUTPUT_BASE:-}" ]; then
    bazel --output_base="$output_base" shutdown 2>/dev/null || true
  fi
  # Keep the work directory when something was found: it holds the inputs.
  if [ "${failed:-0}" -eq 0 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=0
summary=()
for fuzzer in "${FUZZERS[@]}"; do
  package="${fuzzer%%:*}"
  name="${fuzzer##*:}"
  binary="$bin/$package/$name"
  dir="$work/$name"
  mkdir -p "$dir/corpus" "$dir/findings"
  if [ -d "fuzz/corpus/$name" ]; then
    cp -R "fuzz/corpus/$name/." "$dir/corpus/"
  fi
  seeds=$(find "$dir/corpus" -type f | wc -l)
  dict=()
  if [ -f "fuzz/$name.dict" ]; then dict=(-dict="fuzz/$name.dict"); fi
  echo "== $name: ${seconds}s from $seeds seeds"
  "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "${dict[@]}" -artifact_prefix="$dir/findings/" \
    "$dir/corpus" >"$dir/log" 2>&1 &
  fuzzer_pid=$!
  wait "$fuzzer_pid"
  status=$?
  fuzzer_pid=""

  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$dir/log" | tail -1)
  cov=$(printf '%s\n' "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
  ft=$(printf '%s\n' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  corpus=$(find "$dir/corpus" -type f | wc -l)
  findings=$(find "$dir/findings" -type f \
    \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) |
    sort)
  count=$(printf '%s' "$findings" | grep -c . || true)
  line="$name: executions ${runs:-?}, exec/s ${speed:-?}, cov ${cov:-?}, ft ${ft:-?}, corpus $corpus (from $seeds), findings $count"
  echo "$line"
  summary+=("$line")
  if [ "$status" -ne 0 ] || [ "$count" -ne 0 ] || [ -z "$runs" ]; then
    failed=$((failed + 1))
    echo "$name FAILED (exit $status); last lines of $dir/log:"
    tail -40 "$dir/log"
    for finding in $findings; do
      echo "  finding: $finding"
      echo "  reproduce: $binary $finding"
    done
  fi
done

echo "== fuzzers, ${seconds}s each"
printf '%s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
  echo "run_fuzzers: $failed of ${#FUZZERS[@]} targets failed; inputs kept in $work"
  exit 1
fi
echo "run_fuzzers: no findings"
