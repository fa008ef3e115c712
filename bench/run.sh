#!/usr/bin/env bash
# Runs the benchmarks: sse-gateway against a direct gRPC client (the
# ceiling), the Node.js peer (bench/node_peer) and grpc-gateway
# (bench/grpc_gateway_peer, if it builds), and, in the fan-out scenario,
# against nginx + nchan (bench/nchan), the gateway's multiplex endpoint
# (a slow subscription beside a fast one), and the gateway over HTTP/2 (h2c,
# 10,000 streams sharing 100 connections) against itself over HTTP/1.1,
# every scenario, interleaved,
# --runs times (default 3), then writes docs/benchmarks.md and
# bench/plots/*.png from the medians. Takes about 55 minutes.
#
#   bash bench/run.sh                 # the full benchmark
#   bash bench/run.sh --smoke         # a short check (CI): direct and gateway,
#                                     # small sizes, exits non-zero on failure
#   bash bench/run.sh --runs=1 ...    # other flags go to run_benchmarks.py
#
# Needs root (or sudo) for apt-get, and raises the open-files limit to 20000
# (the machine's hard limit) so one process can hold 19,000 connections.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SMOKE=0
ARGS=()
for arg in "$@"; do
  case "$arg" in
    --smoke) SMOKE=1 ;;
    *) ARGS+=("$arg") ;;
  esac
done

bash scripts/install_deps.sh
# The runner needs Debian's python3 and, for the fan-out scenario's nchan
# peer, nginx with Debian's nchan module; the full run also python3-matplotlib
# (the plots) and Node.js with npm (the Node peer; a node already on the PATH,
# e.g. the machine's own Node 20, is used as is).
need=()
want=(python3 nginx libnginx-mod-nchan)
if [ "$SMOKE" -eq 0 ]; then
  want+=(python3-matplotlib)
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    want+=(nodejs npm)
  fi
fi
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
    need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

bazel build //gateway:sse_gateway //bench:firehose_backend //bench:direct_client \
  //bench:loadgen //bench:slowheads //bench:nchan_publisher \
  //proto:firehose_cc_proto_descriptor_set 2>&1 | grep -v linux-sandbox
install -m 0644 bazel-bin/proto/bench/v1/firehose.descriptor_set.pb bench/firehose.pb

# One process holds up to 19,000 sockets; more processes and threads too.
ulimit -n "$(ulimit -Hn)"
ulimit -u unlimited 2>/dev/null || true

out=bench/results
mkdir -p "$out"
stamp=$(date -u +%Y%m%dT%H%M%SZ)

if [ "$SMOKE" -eq 1 ]; then
  results="$out/smoke-$stamp.jsonl"
  /usr/bin/python3 bench/run_benchmarks.py --results "$results" \
    --logdir "$out/logs-$stamp" --runs 1 --systems direct,gateway \
    --payloads 64 --stream-counts 100 --duration-s 2 --warmup-s 1 \
    --ttfe-cycles 20 --churn-cycles 300 --ramp-streams 300 --ramp-per-s 300 \
    --slow-connections 200 --slow-close-timeout-s 20 \
    --fanout-subscribers 100 --fanout-rates 10 --fanout-max-rate 10 \
    --fanout-duration-s 2 --multiplex-payloads 64 --multiplex-duration-s 2 \
    --h2-streams 200 --h2-connections 4 --h2-duration-s 2 \
    "${ARGS[@]}"
  # Every cell must have run, and streamed what it was asked to.
  /usr/bin/python3 - "$results" <<'PY'
import json, sys
bad = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    res = r.get("result") or {}
    if r["scenario"] == "slowheads":
        # Every slow connection held, then closed by the server; the probes
        # answered while they were held.
        ok = (r["ok"] and res.get("opened") == r["params"]["connections"]
              and res.get("closed") == res.get("opened")
              and res.get("probe_us", {}).get("failed", 1) == 0
              and res.get("ttfe_us", {}).get("failed", 1) == 0)
    else:
        ok = r["ok"] and res.get("failed", 0) == 0 and (
            res.get("events", 0) > 0
            if r["scenario"] in ("throughput", "streams", "ramp", "fanout",
                                 "multiplex", "h2")
            else res.get("cycles", 0) >= r["params"]["cycles"])
    if ok and r["scenario"] == "h2":
        # Every stream held to the end, gateway-h2's over HTTP/2.
        ok = (res.get("open_at_end") == r["params"]["streams"] and
              res.get("protocol") == ("h2c" if r["system"] == "gateway-h2"
                                      else "http/1.1"))
    if ok and r["scenario"] == "multiplex":
        # Both streams delivered: every slow subscription and the fast one
        # of a multiplexed connection, the fast connection beside the slow.
        mux = res.get("multiplex")
        if mux:
            ok = (mux["measured"]["events"] > 0 and
                  all(s["events"] > 0 for s in mux["subscriptions"].values()))
        elif r["params"]["cell"] == "separate":
            ok = (res.get("companion") or {}).get("events", 0) > 0
    print("smoke: %-10s %-14s %s" % (
        r["scenario"] if r["scenario"] != "multiplex" else "mux/" + (
            r["params"]["cell"] if r["params"]["cell"] != "multiplex"
            else "%d+1" % r["params"]["slow"]), r["system"],
        "ok" if ok else "FAILED %s" % (r["error"] or res)))
    bad += not ok
sys.exit(1 if bad else 0)
PY
  exit $?
fi

systems="direct,gateway,node"
bash bench/node_peer/setup.sh
if bash bench/grpc_gateway_peer/build.sh >"$out/grpc_gateway_build.log" 2>&1; then
  systems="$systems,grpc-gateway"
else
  echo "bench: grpc-gateway peer did not build (see $out/grpc_gateway_build.log); skipped" >&2
fi

results="$out/results-$stamp.jsonl"
/usr/bin/python3 bench/run_benchmarks.py --results "$results" \
  --logdir "$out/logs-$stamp" --systems "$systems" "${ARGS[@]}"

/usr/bin/python3 - >"$out/machine-$stamp.json" <<'PY'
import json, os, platform, subprocess
def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception:
        return ""
cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
mem = int(sh("awk '/MemTotal/{print $2}' /proc/meminfo") or 0) / 1024 / 1024
print(json.dumps({
    "cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem, 1),
    "kernel": platform.release(), "os": sh(". /etc/os-release; echo $PRETTY_NAME"),
    "date": sh("date -u +%Y-%m-%dT%H:%MZ"),
    "versions": {
        "gateway": sh("git rev-parse --short HEAD"),
        "grpc (C++)": sh("dpkg-query -W -f='${Version}' libgrpc++-dev"),
        "node": sh("node --version"),
        "grpc-js": sh("node -p \"require('./bench/node_peer/node_modules/@grpc/grpc-js/package.json').version\""),
        "grpc-gateway": sh("dpkg-query -W -f='${Version}' golang-github-grpc-ecosystem-grpc-gateway-dev"),
        "go": sh("go version"),
    }}))
PY
/usr/bin/python3 bench/report.py --results "$results" --out-md docs/benchmarks.md \
  --plots-dir bench/plots --command "bash bench/run.sh ${ARGS[*]}" \
  --machine-json "$out/machine-$stamp.json"
echo "bench: wrote docs/benchmarks.md and bench/plots/ from $results"
