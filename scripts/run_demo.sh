#!/usr/bin/env bash
# shellcheck disable=SC2317  # stop_process and cleanup run from traps.
# Builds and runs the sse-gateway demo: the demo.v1.Ticker gRPC backend
# (//examples:demo_backend) behind the gateway (//gateway:sse_gateway), which
# serves the ticks as Server-Sent Events and the demo page at /.
#
#   bash scripts/run_demo.sh           # run until Ctrl-C, then stop both
#   bash scripts/run_demo.sh --check   # run the curl example, verify, stop
#
# Environment:
#   DEMO_GRPC_PORT  backend port (default 50051; with --check, a free port).
#                   Any other value runs the gateway with a generated copy of
#                   examples/demo.yaml; the committed file is never edited.
#   DEMO_HTTP_PORT  gateway port (default 8080; with --check, a free port).
#   Port 0 picks a free port, which is then printed.
#
# --check exits 0 when `curl -N .../v1/ticks?symbol=ACME&count=3` printed
# three tick events (ids 1, 2, 3) and a clean end event, 1 otherwise.
set -euo pipefail

usage() {
  # The header comment above, from its second line to the first non-comment.
  awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0"
}

CHECK=0
for arg in "$@"; do
  case "$arg" in
    --check) CHECK=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run_demo: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
# People get the documented ports; the check (run by the tests) takes free
# ones, so that it passes whatever else runs on the machine.
if [ "$CHECK" = 1 ]; then
  GRPC_PORT="${DEMO_GRPC_PORT:-0}"
  HTTP_PORT="${DEMO_HTTP_PORT:-0}"
else
  GRPC_PORT="${DEMO_GRPC_PORT:-50051}"
  HTTP_PORT="${DEMO_HTTP_PORT:-8080}"
fi
for port in "$GRPC_PORT" "$HTTP_PORT"; do
  if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port > 65535)); then
    echo "run_demo: invalid port: $port" >&2
    exit 2
  fi
done
if [ "$GRPC_PORT" = "$HTTP_PORT" ] && [ "$GRPC_PORT" != 0 ]; then
  echo "run_demo: DEMO_GRPC_PORT and DEMO_HTTP_PORT must differ" >&2
  exit 2
fi

say() { echo "run_demo: $*"; }

# --- Build ------------------------------------------------------------------

bash scripts/install_deps.sh
bazel build //gateway:sse_gateway //examples:demo_backend \
  //proto:ticker_cc_proto_descriptor_set
install -m 0644 bazel-bin/proto/demo/v1/ticker.descriptor_set.pb \
  examples/demo.pb

# --- Processes ----------------------------------------------------------------

WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/sse_gateway_demo.XXXXXX")"
BACKEND_PID=""
GATEWAY_PID=""

# Stops `pid` with SIGTERM, escalating to SIGKILL after 10 seconds.
stop_process() {
  local name="$1" pid="$2"
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name did not stop within 10 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  trap - EXIT INT TERM
  stop_process gateway "$GATEWAY_PID"
  stop_process demo_backend "$BACKEND_PID"
  rm -rf "$WORK_DIR"
}
trap cleanup EXIT
trap 'echo; say "stopping"; exit 0' INT TERM

port_is_open() {
  timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# Starts a process in the background with its output in $WORK_DIR/NAME.log
# (and, unless --check, on the terminal prefixed with [NAME]). Sets STARTED_PID.
start_process() {
  local name="$1"
  shift
  local log="$WORK_DIR/$name.log"
  if [ "$CHECK" = 1 ]; then
    "$@" >"$log" 2>&1 &
  else
    # The pipeline ignores SIGINT so that Ctrl-C cannot cut the process's
    # output off before it has shut down.
    "$@" > >(
      trap '' INT
      tee -a "$log" | sed -u "s/^/[$name] /"
    ) 2>&1 &
  fi
  STARTED_PID=$!
}

# Waits up to 60 s until process `pid` prints that it listens ("... listening
# on [http://]HOST:PORT...") and accepts connections there. Sets SERVING_PORT
# to the port it printed (the one it picked when asked for port 0).
wait_until_serving() {
  local name="$1" pid="$2"
  SERVING_PORT=""
  for _ in $(seq 600); do
    if ! kill -0 "$pid" 2>/dev/null; then
      say "$name exited before serving; its output:" >&2
      cat "$WORK_DIR/$name.log" >&2 || true
      return 1
    fi
    if [ -z "$SERVING_PORT" ]; then
      SERVING_PORT=$(sed -n 's/.* listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' \
        "$WORK_DIR/$name.log" | head -n 1)
    fi
    if [ -n "$SERVING_PORT" ] && port_is_open "$SERVING_PORT"; then return 0; fi
    sleep 0.1
  done
  say "$name did not start serving within 60 s; its output:" >&2
  cat "$WORK_DIR/$name.log" >&2 || true
  return 1
}

for port in "$GRPC_PORT" "$HTTP_PORT"; do
  if [ "$port" != 0 ] && port_is_open "$port"; then
    say "port $port is already in use (set DEMO_GRPC_PORT / DEMO_HTTP_PORT)" >&2
    exit 1
  fi
done

start_process demo_backend bazel-bin/examples/demo_backend \
  --listen="127.0.0.1:${GRPC_PORT}"
BACKEND_PID="$STARTED_PID"
wait_until_serving demo_backend "$BACKEND_PID"
GRPC_PORT="$SERVING_PORT"

CONFIG="examples/demo.yaml"
if [ "$GRPC_PORT" != 50051 ]; then
  # A copy pointing at the other backend port; its paths are made absolute
  # because they are resolved against the config file's directory.
  CONFIG="$WORK_DIR/demo.yaml"
  sed -e "s|^backend:[^#]*|backend: 127.0.0.1:${GRPC_PORT}   |" \
    -e "s|^descriptor_sets: *\[demo\.pb\]|descriptor_sets: [${ROOT}/examples/demo.pb]|" \
    -e "s|^index_page:[^#]*|index_page: ${ROOT}/examples/index.html   |" \
    examples/demo.yaml >"$CONFIG"
  if ! grep -q "^backend: 127.0.0.1:${GRPC_PORT} " "$CONFIG" ||
    ! grep -q "^descriptor_sets: \[/" "$CONFIG"; then
    say "cannot adapt examples/demo.yaml to port $GRPC_PORT" >&2
    exit 1
  fi
fi

start_process gateway bazel-bin/gateway/sse_gateway --config="$CONFIG" \
  --listen="127.0.0.1:${HTTP_PORT}"
GATEWAY_PID="$STARTED_PID"
wait_until_serving gateway "$GATEWAY_PID"
HTTP_PORT="$SERVING_PORT"

BASE_URL="http://127.0.0.1:${HTTP_PORT}"
CURL_URL="${BASE_URL}/v1/ticks?symbol=ACME&count=3"

# --- Check mode -------------------------------------------------------------

if [ "$CHECK" = 1 ]; then
  OUT="$WORK_DIR/curl.out"
  say "curl -N '$CURL_URL'"
  status=0
  curl -sS -N --max-time 60 "$CURL_URL" >"$OUT" || status=$?
  tr -d '\r' <"$OUT" >"$OUT.lf"
  cat "$OUT.lf"
  ticks=$(grep -c '^event: tick$' "$OUT.lf" || true)
  ends=$(grep -c '^event: end$' "$OUT.lf" || true)
  ids=$(grep '^id:' "$OUT.lf" | sed 's/^id: *//' | tr '\n' ' ')
  failures=()
  [ "$status" = 0 ] || failures+=("curl exited with status $status")
  [ "$ticks" = 3 ] || failures+=("expected 3 tick events, got $ticks")
  [ "$ends" = 1 ] || failures+=("expected 1 end event, got $ends")
  [ "$ids" = "1 2 3 " ] || failures+=("expected ids 1 2 3, got: ${ids:-none}")
  grep -q '^data: {"code":0,' "$OUT.lf" ||
    failures+=("the end event does not report code 0")
  # Whole page first: `curl | grep -q` fails (curl: (23)) when grep exits
  # before curl has written everything.
  page=$(curl -sSf --max-time 10 "$BASE_URL/" || true)
  grep -q 'new EventSource' <<<"$page" ||
    failures+=("GET / does not serve the demo page")
  if [ "${#failures[@]}" -ne 0 ]; then
    for failure in "${failures[@]}"; do say "FAIL: $failure" >&2; done
    for name in demo_backend gateway; do
      echo "--- $name output ---" >&2
      cat "$WORK_DIR/$name.log" >&2 || true
    done
    exit 1
  fi
  say "OK: 3 tick events and a clean end event"
  exit 0
fi

# --- Interactive mode ---------------------------------------------------------

cat <<EOF

Open ${BASE_URL}/ in a browser
or try: curl -N '${CURL_URL}'

Press Ctrl-C to stop the gateway and the backend.

EOF
status=0
wait -n "$BACKEND_PID" "$GATEWAY_PID" || status=$?
say "a process exited unexpectedly (status $status); stopping" >&2
exit 1
