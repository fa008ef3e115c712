#!/usr/bin/env python3
"""Runs every benchmark scenario against every system, interleaved.

Systems: "direct" (bench/direct_client straight to the firehose backend, the
ceiling), "gateway" (sse_gateway with bench/gateway.yaml), "node" (the Node.js
peer in bench/node_peer) and "grpc-gateway" (bench/grpc_gateway_peer, when it
was built). The fan-out scenario has its own systems (--fanout-systems):
"gateway-fanout" (the gateway's /v1/shared route, one upstream call for all
subscribers), "nchan" (nginx with bench/nchan/nginx.conf.template, fed by
bench/nchan_publisher) and "gateway" (/v1/firehose, one call per subscriber).
The HTTP/2 scenario has its own too (--h2-systems): "gateway" (HTTP/1.1, one
connection per stream) and "gateway-h2" (h2c with prior knowledge, the
streams --h2-connections TCP connections share), the same gateway both.
Every run of a server starts a fresh process, so each RSS and
thread count starts from that system's own baseline.

Scenarios (see docs/benchmarks.md):
  throughput  one stream, rate=0 (as fast as flow control allows), 64 B / 4 KiB
  streams     N streams at 1 event/s each, N in --stream-counts
  ttfe        connect -> first event -> close, one at a time
  churn       --churn-cycles connect/first event/close cycles, 64 at a time,
              after 1,000 unrecorded warm-up cycles on the same server
  ramp, slowheads  (see cells())
  fanout      S subscribers of one stream at R events/s, S in
              --fanout-subscribers; R in --fanout-rates, then x3 / x10/3 up
              to --fanout-max-rate while the system sustains the rate
              (p99 <= --fanout-p99-ms and no event lost); each system stops
              climbing on its own (run_fanout)
  multiplex   fairness of the gateway's multiplex endpoint (run_multiplex):
              a slow stream (--multiplex-slow-rate events/s, 64 B) alone on
              its connection; a fast one (--multiplex-fast-rate, 0 = as fast
              as flow control allows, payload in --multiplex-payloads) alone;
              both on two connections at once; and on one multiplexed
              connection as K slow subscriptions + 1 fast, K in
              --multiplex-slow-counts (the gateway's own endpoint: run on
              the gateway whatever --systems says)
  h2          --h2-streams streams at 1 event/s (64 B) over HTTP/2, sharing
              --h2-connections connections ("gateway-h2"), against the same
              streams over HTTP/1.1, one connection each ("gateway"), in the
              same run (run_h2); bench/gateway.yaml enables http2

--scenarios picks scenarios (default: all).

Each result line of --results (JSON Lines) is
  {"run", "scenario", "system", "params", "ok", "error", "result"}
where "result" is the measuring program's own JSON (bench.md). Fan-out cells
also have "publisher" (nchan: nchan_publisher's cpu_s over wall_s, the whole
cell) and "gateway_metrics" (gateway-fanout: its fan-out metrics after the
window, e.g. shared_calls_open = 1: every subscriber shared one call).
Multiplex cells have params "cell" (slow, fast, separate or multiplex) and
their result is the load generator's JSON for the slow stream (slow,
separate), the fast one (fast) or the multiplexed connection (multiplex, with
its per-subscription "multiplex" object); "separate" also has "companion",
the fast stream's JSON. HTTP/2 cells have params "h2_connections" (the
TCP connections of gateway-h2; gateway uses one per stream) and the load
generator's JSON has "protocol" ("h2c" or "http/1.1"). Every record has "loadavg" (os.getloadavg() as the
cell started: other work on the machine). --bin points at a copy of the
built programs, so a long run keeps one build while bazel-bin is rebuilt.

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
import urllib.parse
import urllib.request

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
    if system == "nchan":
        return start_nchan(logdir)
    backend = "%s:%d" % tuple(BACKEND_ADDR)
    listen = "--listen=127.0.0.1:0"
    if system in ("gateway", "gateway-fanout", "gateway-h2"):
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


def free_port():
    """A port that was free a moment ago (nginx cannot report port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def children(pid):
    """Pids whose parent is `pid` (nginx's workers)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


def start_nchan(logdir):
    """Starts nginx with nchan (bench/nchan/nginx.conf.template) in the
    foreground, everything under logdir/nchan; returns its Popen (the master)
    and port once every worker is up."""
    prefix = os.path.abspath(os.path.join(logdir, "nchan"))
    os.makedirs(os.path.join(prefix, "nginx_tmp"), exist_ok=True)
    port = free_port()
    with open(os.path.join(ROOT, "bench/nchan/nginx.conf.template")) as source:
        text = source.read().replace("@PREFIX@", prefix).replace(
            "@PORT@", str(port))
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as out:
        out.write(text)
    error_log = os.path.join(prefix, "nginx_error.log")
    with open(os.path.join(logdir, "nchan.log"), "ab") as out:
        proc = subprocess.Popen(["nginx", "-p", prefix, "-c", conf,
                                 "-e", error_log],
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 15
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("nginx exited with %d" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if len(children(proc.pid)) >= (os.cpu_count() or 1):
                    time.sleep(0.3)
                    return proc, port
        except OSError:
            pass
        time.sleep(0.05)
    stop(proc)
    raise RuntimeError("nginx not listening on %d after 15 s" % port)


def start_publisher(port, params, logdir):
    """Starts bench/nchan_publisher for the cell's stream; returns it once it
    has published its first event."""
    log_path = os.path.join(logdir, "nchan_publisher.log")
    offset = os.path.getsize(log_path) if os.path.exists(log_path) else 0
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [os.path.join(BIN, "bench/nchan_publisher"),
             "--target=%s:%d" % tuple(BACKEND_ADDR),
             "--rate=%d" % params["rate"],
             "--payload_bytes=%d" % params["payload_bytes"],
             "--nchan_port=%d" % port, "--publish_path=/pub/firehose"],
            stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 15
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("nchan_publisher exited with %d" %
                               proc.returncode)
        with open(log_path, "rb") as log_file:
            log_file.seek(offset)
            if b"publishing" in log_file.read():
                return proc
        time.sleep(0.05)
    stop(proc)
    raise RuntimeError("nchan_publisher did not publish within 15 s")


def cpu_seconds(pid):
    """utime + stime of `pid` in seconds (0 if it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_json(cmd, timeout_s):
    """Runs a measuring program; returns the last JSON line it printed."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout_s, check=False)
    lines = [l for l in proc.stdout.decode().splitlines() if l.startswith("{")]
    if not lines:
        raise RuntimeError("exit %d, no JSON: %s" % (
            proc.returncode, proc.stderr.decode()[-400:]))
    return json.loads(lines[-1])


def firehose_path(rate, payload_bytes):
    return "/v1/firehose?rate=%d&payload_bytes=%d" % (rate, payload_bytes)


def multiplex_path(slow_names, slow_target, fast_target):
    """/v1/multiplex with one subscription per slow name and "fast" (when
    fast_target), each target URL-encoded."""
    subs = [(name, slow_target) for name in slow_names]
    if fast_target:
        subs.append(("fast", fast_target))
    return "/v1/multiplex?" + "&".join(
        "%s=%s" % (name, urllib.parse.quote(target, safe=""))
        for name, target in subs)


def measure_multiplex(params, server, port, timeout_s):
    """One multiplex cell (see run_multiplex); returns the load generator's
    JSON, with "companion" (the fast stream's) for the separate cell."""
    slow = firehose_path(params["slow_rate"], params["slow_payload_bytes"])
    fast = firehose_path(params["fast_rate"], params["fast_payload_bytes"])
    base = [os.path.join(BIN, "bench/loadgen"), "--port=%d" % port,
            "--system=gateway", "--mode=stream", "--connections=1",
            "--warmup_s=%g" % params["warmup_s"]]
    window = ["--duration_s=%g" % params["duration_s"],
              "--watch_pid=%d" % server.pid]
    cell = params["cell"]
    if cell == "slow":
        return run_json(base + window + ["--path=" + slow], timeout_s)
    if cell == "fast":
        return run_json(base + window + ["--path=" + fast], timeout_s)
    if cell == "separate":
        # The fast stream on its own connection (its own load generator),
        # open before and after the slow one's window.
        companion = subprocess.Popen(
            base + ["--path=" + fast, "--duration_s=%g" %
                    (params["duration_s"] + 2)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            result = run_json(base + window + ["--path=" + slow], timeout_s)
            out, _ = companion.communicate(timeout=timeout_s)
        finally:
            stop(companion)
        lines = [l for l in out.decode().splitlines() if l.startswith("{")]
        result["companion"] = json.loads(lines[-1]) if lines else None
        return result
    names = ["s%02d" % i for i in range(1, params["slow"] + 1)]
    return run_json(base + window + [
        "--path=" + multiplex_path(names, slow, fast),
        "--subscriptions=" + ",".join(names + ["fast"]),
        "--measured_subscriptions=" + ",".join(names),
        "--fast_subscription=fast"], timeout_s)


def h2_streams_per_connection(params):
    """gateway-h2's streams per TCP connection: the streams spread evenly
    over params["h2_connections"] (the last one may have fewer)."""
    connections = max(1, params["h2_connections"])
    return -(-params["streams"] // connections)


def measure(system, scenario, params, server, port, timeout_s):
    """Runs the measuring program for one cell; returns its parsed JSON."""
    if scenario == "multiplex":
        return measure_multiplex(params, server, port, timeout_s)
    common_path = "/v1/firehose?rate=%d&payload_bytes=%d" % (
        params["rate"], params["payload_bytes"])
    if system == "direct":
        cmd = [os.path.join(BIN, "bench/direct_client"),
               "--target=%s:%d" % tuple(BACKEND_ADDR), "--watch_pid=self",
               "--rate=%d" % params["rate"],
               "--payload_bytes=%d" % params["payload_bytes"]]
    else:
        watch = [server.pid]
        if scenario == "fanout":
            # Every subscriber asks for the same stream (and sends no
            # Last-Event-ID), so the fan-out route opens one upstream call.
            common_path = {"gateway-fanout": common_path.replace(
                "/v1/firehose", "/v1/shared"),
                           "nchan": "/sub/firehose"}.get(system, common_path)
            if system == "nchan":  # The master and every worker.
                watch += children(server.pid)
        cmd = [os.path.join(BIN, "bench/loadgen"), "--port=%d" % port,
               "--path=" + common_path, "--system=" + system,
               "--watch_pid=" + ",".join(str(p) for p in watch),
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
    elif scenario in ("throughput", "streams", "fanout", "h2"):
        count = params["streams"]
        cmd += ["--mode=stream", "--duration_s=%g" % params["duration_s"],
                "--warmup_s=%g" % params["warmup_s"]]
        cmd += ["--streams=%d" % count] if system == "direct" else [
            "--connections=%d" % count]
        if system == "gateway-h2":
            cmd += ["--http2", "--streams_per_connection=%d" %
                    h2_streams_per_connection(params)]
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
    return run_json(cmd, timeout_s)


def cells(args):
    """Yields (scenario, params) in the order one run measures them (the
    fan-out scenario adapts its rates to the results: run_fanout)."""
    for scenario, params in all_cells(args):
        if scenario in args.scenarios:
            yield scenario, params


def all_cells(args):
    """cells() before the --scenarios filter."""
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


SCENARIOS = ("throughput", "streams", "ttfe", "churn", "ramp", "slowheads",
             "fanout", "multiplex", "h2")

# Systems measured per scenario (default: every system). The direct client
# has no HTTP front door; node has no head timeout worth measuring.
SCENARIO_SYSTEMS = {"ramp": ("gateway",),
                    "slowheads": ("gateway", "grpc-gateway")}


def run_cell(run, scenario, system, params, logdir, results):
    """Measures one cell on a fresh server; writes and returns its record."""
    record = {"run": run, "scenario": scenario, "system": system,
              "params": params, "ok": True, "error": None,
              "loadavg": os.getloadavg()}  # Other work on the machine.
    started = time.time()
    server = publisher = None
    try:
        server, port = start_server(system, logdir)
        if system == "nchan":
            publisher = start_publisher(port, params, logdir)
            publisher_cpu, publisher_start = cpu_seconds(publisher.pid), \
                time.time()
        timeout = 120 + params["streams"] / 100 + params["cycles"] / 50 + \
            params.get("close_timeout_s", 0)
        record["result"] = measure(system, scenario, params, server, port,
                                   timeout)
        if publisher is not None:  # Its CPU over the whole loadgen run.
            record["publisher"] = {
                "cpu_s": cpu_seconds(publisher.pid) - publisher_cpu,
                "wall_s": time.time() - publisher_start}
        if system == "gateway-fanout":  # Shared calls still lingering.
            record["gateway_metrics"] = fanout_metrics(port)
        if record["result"].get("connected", 1) == 0:
            raise RuntimeError("no stream connected")
        if system == "gateway-h2" and record["result"].get("protocol") != "h2c":
            raise RuntimeError("not measured over HTTP/2")
    except Exception as error:  # Recorded, run goes on.
        record["ok"] = False
        record["error"] = str(error)[-500:]
    finally:
        stop(publisher)
        stop(server)
    results.write(json.dumps(record) + "\n")
    results.flush()
    r = record.get("result") or {}
    if scenario == "multiplex":
        log("run %d multiplex  %-9s %-6s %s %.0fs" % (
            run, params["cell"], "%dB" % params["fast_payload_bytes"]
            if params["cell"] != "slow" else "-",
            multiplex_summary(params, r) if record["ok"]
            else "FAILED: " + record["error"], time.time() - started))
        time.sleep(1)
        return record
    log("run %d %-10s %-14s %-6s %s %.0fs" % (
        run, scenario, system,
        params["cycles"] if scenario in ("churn", "ttfe") else
        params["streams"] if scenario != "fanout" else
        "%dx%d/s" % (params["streams"], params["rate"]),
        ("events/s=%.0f p99=%.1fms" % (
            r.get("events_per_s", 0),
            r.get("latency_us", {}).get("p99", 0) / 1000)
         if scenario in ("throughput", "streams", "fanout", "h2") else
         "cycles/s=%.0f ttfe_p50=%.1fms" % (
             r.get("cycles_per_s", 0),
             r.get("ttfe_us", {}).get("p50", 0) / 1000))
        if record["ok"] else "FAILED: " + record["error"],
        time.time() - started))
    time.sleep(1)  # Let sockets in TIME_WAIT settle.
    return record


def multiplex_summary(params, result):
    """The log line's numbers for a multiplex cell."""
    mux = result.get("multiplex") or {}
    slow = (mux.get("measured") or {}).get("latency_us") or \
        result.get("latency_us", {})
    fast = (mux.get("fast") or {}).get("events_per_s")
    if fast is None:
        fast = (result.get("companion") or result).get("events_per_s", 0) \
            if params["cell"] != "slow" else 0
    if params["cell"] == "fast":
        return "fast events/s=%.0f" % fast
    return "slow p50=%.2fms p99=%.2fms fast events/s=%.0f%s" % (
        slow.get("p50", 0) / 1000, slow.get("p99", 0) / 1000, fast,
        " max run=%d overtakes max=%d" % (
            mux["fast"]["runs"]["max"], mux["fast"]["overtakes"]["max"])
        if mux.get("fast") else "")


def multiplex_cells(args):
    """The multiplex scenario's cells in the order one run measures them."""
    base = {"slow": 0, "fast": 0, "connections": 1, "slow_rate":
            args.multiplex_slow_rate, "slow_payload_bytes": 64,
            "fast_rate": args.multiplex_fast_rate, "fast_payload_bytes": 0,
            "streams": 1, "cycles": 0, "duration_s": args.multiplex_duration_s,
            "warmup_s": args.warmup_s}
    yield dict(base, cell="slow", slow=1)
    for payload in args.multiplex_payloads:
        cell = dict(base, fast=1, fast_payload_bytes=payload)
        yield dict(cell, cell="fast")
        yield dict(cell, cell="separate", slow=1, connections=2, streams=2)
        for count in args.multiplex_slow_counts:
            yield dict(cell, cell="multiplex", slow=count)


def run_multiplex(run, args, results):
    """The multiplex scenario, every cell on a fresh gateway; returns the
    number of failed cells."""
    failures = 0
    for params in multiplex_cells(args):
        record = run_cell(run, "multiplex", "gateway", params, args.logdir,
                          results)
        failures += not record["ok"]
    return failures


def run_h2(run, args, results):
    """The HTTP/2 scenario: the same streams over HTTP/1.1 and over h2c, each
    system on a fresh gateway; returns the number of failed cells."""
    params = {"rate": 1, "payload_bytes": 64, "streams": args.h2_streams,
              "h2_connections": args.h2_connections, "cycles": 0,
              "concurrency": 0, "duration_s": args.h2_duration_s,
              "warmup_s": args.warmup_s + 2}
    failures = 0
    for system in args.h2_systems:
        record = run_cell(run, "h2", system, params, args.logdir, results)
        failures += not record["ok"]
    return failures


def fanout_metrics(port):
    """The gateway's fan-out gauges and counters from /metrics, to show the
    subscribers shared one upstream call."""
    wanted = ("sse_gateway_shared_calls_open",
              "sse_gateway_subscribers_fell_behind_total",
              "sse_gateway_streams_started_total")
    out = {}
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                    timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(wanted):
                    name, value = line.rsplit(" ", 1)
                    out[name] = float(value)
    except (OSError, ValueError) as error:
        out["error"] = str(error)
    return out


def sustained(record, p99_ms):
    """Whether a fan-out cell kept up: every subscriber connected and open at
    the end, none failed, p99 <= p99_ms and >= 97% of S x R events/s."""
    r = record.get("result") or {}
    params = record["params"]
    expected = params["streams"] * params["rate"]
    return (record["ok"] and r.get("failed", 1) == 0 and
            r.get("open_at_end", 0) == params["streams"] and
            r.get("latency_us", {}).get("p99", 1e12) <= p99_ms * 1000 and
            r.get("events_per_s", 0) >= 0.97 * expected)


def fanout_rates(args):
    """--fanout-rates, then x3 and x10/3 in turn up to --fanout-max-rate."""
    rates = list(args.fanout_rates)
    while rates and rates[-1] < args.fanout_max_rate:
        last = rates[-1]
        rates.append(last * 3 if str(last).startswith("1") else last * 10 // 3)
    return [r for r in rates if r <= args.fanout_max_rate]


def run_fanout(run, args, results):
    """The fan-out scenario: per S, every system at each of --fanout-rates
    (unless it collapsed at a lower rate: under half of S x R delivered),
    then above them while it sustains the rate, interleaved. Returns the
    number of failed cells."""
    failures = 0
    for subscribers in args.fanout_subscribers:
        climbing = set(args.fanout_systems)  # Sustained every rate so far.
        collapsed = set()
        for rate in fanout_rates(args):
            base = rate <= max(args.fanout_rates)
            todo = [s for s in args.fanout_systems if s not in collapsed and
                    (base or s in climbing)]
            if not todo:
                break
            params = {"rate": rate, "payload_bytes": 64,
                      "streams": subscribers, "cycles": 0,
                      "concurrency": 0, "duration_s": args.fanout_duration_s,
                      "warmup_s": args.warmup_s}
            for system in todo:
                record = run_cell(run, "fanout", system, params, args.logdir,
                                  results)
                failures += not record["ok"]
                if not sustained(record, args.fanout_p99_ms):
                    climbing.discard(system)
                delivered = (record.get("result") or {}).get("events_per_s", 0)
                if delivered < 0.5 * subscribers * rate:
                    collapsed.add(system)
    return failures


def main():
    global BIN
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True)
    parser.add_argument("--bin", default=BIN,
                        help="where the built programs are (default bazel-bin; "
                        "a copy keeps a long run on one build while others "
                        "rebuild)")
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
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--fanout-systems",
                        default="gateway-fanout,nchan,gateway")
    parser.add_argument("--fanout-subscribers", default="1000,10000,19000")
    parser.add_argument("--fanout-rates", default="1,10,100")
    parser.add_argument("--fanout-max-rate", type=int, default=10000)
    parser.add_argument("--fanout-p99-ms", type=float, default=100)
    parser.add_argument("--fanout-duration-s", type=float, default=5)
    parser.add_argument("--multiplex-payloads", default="64,4096",
                        help="payload bytes of the fast stream")
    parser.add_argument("--multiplex-slow-counts", default="1,15",
                        help="slow subscriptions beside the fast one")
    parser.add_argument("--multiplex-slow-rate", type=int, default=10)
    parser.add_argument("--multiplex-fast-rate", type=int, default=0)
    parser.add_argument("--multiplex-duration-s", type=float, default=20)
    parser.add_argument("--h2-systems", default="gateway,gateway-h2")
    parser.add_argument("--h2-streams", type=int, default=10000)
    parser.add_argument("--h2-connections", type=int, default=100,
                        help="TCP connections the gateway-h2 streams share")
    parser.add_argument("--h2-duration-s", type=float, default=None,
                        help="measurement window (default --duration-s)")
    args = parser.parse_args()
    BIN = os.path.abspath(args.bin)
    args.scenarios = args.scenarios.split(",")
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error("unknown scenarios: %s" % ",".join(sorted(unknown)))
    args.fanout_systems = [x for x in args.fanout_systems.split(",") if x]
    args.h2_systems = [x for x in args.h2_systems.split(",") if x]
    if set(args.h2_systems) - {"gateway", "gateway-h2"}:
        parser.error("--h2-systems: gateway and gateway-h2")
    if args.h2_streams < 1 or args.h2_connections < 1:
        parser.error("--h2-streams and --h2-connections must be >= 1")
    if args.h2_duration_s is None:
        args.h2_duration_s = args.duration_s
    args.fanout_subscribers = [int(x) for x in
                               args.fanout_subscribers.split(",") if x]
    args.fanout_rates = [int(x) for x in args.fanout_rates.split(",") if x]
    args.multiplex_payloads = [int(x) for x in
                               args.multiplex_payloads.split(",") if x]
    args.multiplex_slow_counts = [int(x) for x in
                                  args.multiplex_slow_counts.split(",") if x]
    if any(not 1 <= n <= 15 for n in args.multiplex_slow_counts):
        parser.error("--multiplex-slow-counts: 1 to 15 (bench/gateway.yaml "
                     "allows 16 subscriptions)")
    args.payloads = [int(x) for x in args.payloads.split(",")]
    args.stream_counts = [int(x) for x in args.stream_counts.split(",")]
    systems = args.systems.split(",")
    os.makedirs(args.logdir, exist_ok=True)
    # kill PID stops the run cleanly: the finally blocks stop every server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

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
                        if system in SCENARIO_SYSTEMS.get(scenario, systems):
                            record = run_cell(run, scenario, system, params,
                                              args.logdir, results)
                            failures += not record["ok"]
                if "fanout" in args.scenarios:
                    failures += run_fanout(run, args, results)
                if "multiplex" in args.scenarios:
                    failures += run_multiplex(run, args, results)
                if "h2" in args.scenarios:
                    failures += run_h2(run, args, results)
    finally:
        stop(backend)
    log("%d runs failed" % failures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
