#!/usr/bin/env python3
"""Runs every benchmark scenario against every system, interleaved.

Systems: "direct" (bench/direct_client straight to the firehose backend, the
ceiling), "gateway" (sse_gateway with bench/gateway.yaml), "node" (the Node.js
peer in bench/node_peer) and "grpc-gateway" (bench/grpc_gateway_peer, when it
was built). Every run of a server starts a fresh process, so each RSS and
thread count starts from that system's own baseline.

Scenarios (see docs/benchmarks.md):
  throughput  one stream, rate=0 (as fast as flow control allows), 64 B / 4 KiB
  streams     N streams at 1 event/s each, N in --stream-counts
  ttfe        connect -> first event -> close, one at a time
  churn       --churn-cycles connect/first event/close cycles, 64 at a time,
              after 1,000 unrecorded warm-up cycles on the same server

Each result line of --results (JSON Lines) is
  {"run", "scenario", "system", "params", "ok", "error", "result"}
where "result" is the measuring program's own JSON (bench.md).

Called by bench/run.sh, which builds everything first. Stdlib only.
"""

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "bazel-bin")
# Every process listens on a port it picks itself (port 0) and prints; the
# runner reads the port from its log, so a run never depends on a port being
# free. BACKEND_ADDR's port is set once the firehose backend has started.
BACKEND_ADDR = ["127.0.0.1", 0]
LISTENING = re.compile(rb"listening on \S*?:(\d+)")


def log(*args):
    print("bench:", *args, file=sys.stderr, flush=True)


def wait_for_listening(proc, log_path, log_offset, timeout_s=30.0):
    """Waits until `proc` has printed "listening on HOST:PORT" to its log
    (after byte `log_offset`) and accepts connections; returns the port."""
    deadline = time.time() + timeout_s
    port = None
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        if port is None:
            with open(log_path, "rb") as log_file:
                log_file.seek(log_offset)
                match = LISTENING.search(log_file.read())
            if match:
                port = int(match.group(1))
        if port is not None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return port
            except OSError:
                pass
        time.sleep(0.05)
    raise RuntimeError(f"{log_path}: not listening after {timeout_s}s")


def start_logged(cmd, log_path):
    """Starts `cmd` with its output appended to `log_path`; returns the
    process and the port it says it listens on."""
    offset = os.path.getsize(log_path) if os.path.exists(log_path) else 0
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    return proc, wait_for_listening(proc, log_path, offset)


def gateway_config(logdir):
    """bench/gateway.yaml pointed at the running firehose backend, written
    into `logdir` with its descriptor set path made absolute."""
    with open(os.path.join(ROOT, "bench/gateway.yaml")) as source:
        text = source.read()
    text, backends = re.subn(r"address: 127\.0\.0\.1:\d+",
                             "address: %s:%d" % tuple(BACKEND_ADDR), text)
    text, sets = re.subn(r"descriptor_sets: \[firehose\.pb\]",
                         "descriptor_sets: [%s]" %
                         os.path.join(ROOT, "bench/firehose.pb"), text)
    if backends != 1 or sets != 1:
        raise RuntimeError("cannot adapt bench/gateway.yaml")
    path = os.path.join(logdir, "gateway.yaml")
    with open(path, "w") as config:
        config.write(text)
    return path


def stop(proc, timeout_s=10.0):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_server(system, logdir):
    """Starts the HTTP system under test; returns its Popen and port (or
    None, None for the direct client)."""
    if system == "direct":
        return None, None
    backend = "%s:%d" % tuple(BACKEND_ADDR)
    listen = "--listen=127.0.0.1:0"
    if system == "gateway":
        cmd = [os.path.join(BIN, "gateway/sse_gateway"),
               "--config=" + gateway_config(logdir), listen]
    elif system == "node":
        cmd = ["node", os.path.join(ROOT, "bench/node_peer/server.js"),
               listen, "--backend=" + backend]
    else:
        cmd = [os.path.join(ROOT, "bench/grpc_gateway_peer/bin/grpc_gateway_peer"),
               listen, "--backend=" + backend]
    proc, port = start_logged(cmd, os.path.join(logdir, system + ".log"))
    time.sleep(0.3)  # Let it finish starting before its baseline is read.
    return proc, port


def measure(system, scenario, params, server, port, timeout_s):
    """Runs the measuring program for one cell; returns its parsed JSON."""
    common_path = "/v1/firehose?rate=%d&payload_bytes=%d" % (
        params["rate"], params["payload_bytes"])
    if system == "direct":
        cmd = [os.path.join(BIN, "bench/direct_client"),
               "--target=%s:%d" % tuple(BACKEND_ADDR), "--watch_pid=self",
               "--rate=%d" % params["rate"],
               "--payload_bytes=%d" % params["payload_bytes"]]
    else:
        cmd = [os.path.join(BIN, "bench/loadgen"), "--port=%d" % port,
               "--path=" + common_path, "--system=" + system,
               "--watch_pid=%d" % server.pid,
               "--format=" + ("ndjson" if system == "grpc-gateway" else "sse")]
    if scenario == "slowheads":
        cmd = [os.path.join(BIN, "bench/slowheads"), "--port=%d" % port,
               "--watch_pid=%d" % server.pid, "--stream_path=" + common_path,
               "--connections=%d" % params["connections"],
               "--line_interval_ms=%d" % params["line_interval_ms"],
               "--hold_s=%g" % params["hold_s"],
               "--close_timeout_s=%g" % params["close_timeout_s"],
               "--first_event_needle=" + (
                   '"result"' if system == "grpc-gateway" else "data:")]
    elif scenario == "ramp":
        cmd += ["--mode=stream", "--duration_s=%g" % params["duration_s"],
                "--warmup_s=%g" % params["warmup_s"],
                "--connections=%d" % params["streams"],
                "--ramp_per_s=%g" % params["ramp_per_s"]]
    elif scenario in ("throughput", "streams"):
        count = params["streams"]
        cmd += ["--mode=stream", "--duration_s=%g" % params["duration_s"],
                "--warmup_s=%g" % params["warmup_s"]]
        cmd += ["--streams=%d" % count] if system == "direct" else [
            "--connections=%d" % count]
    else:
        cmd += ["--mode=churn", "--cycles=%d" % params["cycles"],
                "--concurrency=%d" % params["concurrency"]]
    if scenario == "churn":
        # Warm-up, not recorded: the first connections make a server start
        # its worker threads and pools, which are not per-connection state.
        warm = [a for a in cmd if not a.startswith(("--cycles=", "--watch_pid="))]
        subprocess.run(warm + ["--cycles=%d" % min(1000, params["cycles"])],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=timeout_s, check=False)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout_s, check=False)
    lines = [l for l in proc.stdout.decode().splitlines() if l.startswith("{")]
    if not lines:
        raise RuntimeError("exit %d, no JSON: %s" % (
            proc.returncode, proc.stderr.decode()[-400:]))
    return json.loads(lines[-1])


def cells(args):
    """Yields (scenario, params) in the order one run measures them."""
    base = {"rate": 0, "payload_bytes": 64, "streams": 1, "cycles": 0,
            "concurrency": 0, "duration_s": args.duration_s,
            "warmup_s": args.warmup_s}
    for payload in args.payloads:
        yield "throughput", dict(base, payload_bytes=payload)
    for count in args.stream_counts:
        yield "streams", dict(base, rate=1, streams=count,
                              warmup_s=args.warmup_s + 2)
    cycle = {"rate": 1, "payload_bytes": 64, "streams": 0}
    yield "ttfe", dict(cycle, cycles=args.ttfe_cycles, concurrency=1)
    yield "churn", dict(cycle, cycles=args.churn_cycles, concurrency=64)
    if args.ramp_streams > 0:
        yield "ramp", dict(base, rate=1, streams=args.ramp_streams,
                           ramp_per_s=args.ramp_per_s, duration_s=2,
                           warmup_s=1)
    if args.slow_connections > 0:
        yield "slowheads", dict(base, rate=1, streams=0,
                                connections=args.slow_connections,
                                line_interval_ms=3000, hold_s=5,
                                close_timeout_s=args.slow_close_timeout_s)


# Systems measured per scenario (default: every system). The direct client
# has no HTTP front door; node has no head timeout worth measuring.
SCENARIO_SYSTEMS = {"ramp": ("gateway",),
                    "slowheads": ("gateway", "grpc-gateway")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True)
    parser.add_argument("--logdir", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--systems", default="direct,gateway,node,grpc-gateway")
    parser.add_argument("--payloads", default="64,4096")
    parser.add_argument("--stream-counts", default="100,1000,10000,19000")
    parser.add_argument("--duration-s", type=float, default=10)
    parser.add_argument("--warmup-s", type=float, default=2)
    parser.add_argument("--ttfe-cycles", type=int, default=300)
    parser.add_argument("--churn-cycles", type=int, default=10000)
    # 5,000 streams/s until 18,000 are held (the open-files limit of 20,000
    # leaves no room for the 20,000 of a full 4 s).
    parser.add_argument("--ramp-streams", type=int, default=18000)
    parser.add_argument("--ramp-per-s", type=float, default=5000)
    parser.add_argument("--slow-connections", type=int, default=19000)
    parser.add_argument("--slow-close-timeout-s", type=float, default=25)
    args = parser.parse_args()
    args.payloads = [int(x) for x in args.payloads.split(",")]
    args.stream_counts = [int(x) for x in args.stream_counts.split(",")]
    systems = args.systems.split(",")
    os.makedirs(args.logdir, exist_ok=True)

    backend, BACKEND_ADDR[1] = start_logged(
        [os.path.join(BIN, "bench/firehose_backend"),
         "--listen=%s:0" % BACKEND_ADDR[0]],
        os.path.join(args.logdir, "firehose_backend.log"))
    failures = 0
    try:
        with open(args.results, "a") as results:
            for run in range(1, args.runs + 1):
                for scenario, params in cells(args):
                    for system in systems:
                        if system not in SCENARIO_SYSTEMS.get(scenario,
                                                              systems):
                            continue
                        record = {"run": run, "scenario": scenario,
                                  "system": system, "params": params,
                                  "ok": True, "error": None}
                        started = time.time()
                        server = None
                        try:
                            server, port = start_server(system, args.logdir)
                            timeout = 120 + params["streams"] / 100 + \
                                params["cycles"] / 50 + \
                                params.get("close_timeout_s", 0)
                            record["result"] = measure(system, scenario, params,
                                                       server, port, timeout)
                            if record["result"].get("connected", 1) == 0:
                                raise RuntimeError("no stream connected")
                        except Exception as error:  # Recorded, run goes on.
                            record["ok"] = False
                            record["error"] = str(error)[-500:]
                            failures += 1
                        finally:
                            stop(server)
                        results.write(json.dumps(record) + "\n")
                        results.flush()
                        r = record.get("result") or {}
                        log("run %d %-10s %-12s %-6s %s %.0fs" % (
                            run, scenario, system,
                            params["streams"] if scenario != "churn" and
                            scenario != "ttfe" else params["cycles"],
                            ("events/s=%.0f p99=%.1fms" % (
                                r.get("events_per_s", 0),
                                r.get("latency_us", {}).get("p99", 0) / 1000)
                             if scenario in ("throughput", "streams") else
                             "cycles/s=%.0f ttfe_p50=%.1fms" % (
                                 r.get("cycles_per_s", 0),
                                 r.get("ttfe_us", {}).get("p50", 0) / 1000))
                            if record["ok"] else "FAILED: " + record["error"],
                            time.time() - started))
                        time.sleep(1)  # Let sockets in TIME_WAIT settle.
    finally:
        stop(backend)
    log("%d runs failed" % failures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
