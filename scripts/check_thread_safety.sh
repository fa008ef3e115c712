#!/usr/bin/env bash
# Builds everything with clang-14 and -Werror=thread-safety: clang checks
# every ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED / ABSL_LOCKS_EXCLUDED
# annotation (a field read without its mutex, a lock not released...). Uses
# its own output base (CLANG_OUTPUT_BASE overrides it). Exits non-zero when
# the analysis (or the build) fails.
#
#   bash scripts/check_thread_safety.sh [extra bazel build flags]
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install_deps.sh || exit 1
output_base="${CLANG_OUTPUT_BASE:-$(bazel info output_base 2>/dev/null)-clang}"
echo "check_thread_safety: clang-14 -Werror=thread-safety (output base ${output_base})"
bazel --output_base="$output_base" build --config=thread_safety --keep_going \
  //core/... //gateway/... //tests/... //bench/... //examples/... //fuzz/... "$@" 2>&1 |
  grep -v "linux-sandbox"
status=${PIPESTATUS[0]}
if [ -z "${CLANG_OUTPUT_BASE:-}" ]; then
  bazel --output_base="$output_base" shutdown 2>/dev/null || true
fi
if [ "$status" -ne 0 ]; then
  echo "check_thread_safety: FAILED (see the -Wthread-safety errors above)"
  exit 1
fi
echo "check_thread_safety: no thread-safety warnings"
