#!/usr/bin/env python3
"""Turn benchmark results into docs/benchmarks.md plus PNG plots.

Usage (Debian's python3 with python3-matplotlib):
  /usr/bin/python3 bench/report.py --results RESULTS.jsonl [--results MORE.jsonl ...] \\
      --out-md docs/benchmarks.md --plots-dir bench/plots [--command "bash bench/run.sh"] \\
      [--machine-json M.json]

Several --results files are read as one (e.g. a full run plus a later run of one scenario:
`run_benchmarks.py --scenarios multiplex`); runs of the same cell from different files are pooled.
Each RESULTS.jsonl holds one JSON object per measured run:
  {"run": 1, "scenario": "throughput|streams|ttfe|churn|ramp|slowheads|fanout|multiplex|h2",
   "system": "direct|gateway|node|grpc-gateway|gateway-fanout|nchan|gateway-h2",
   "params": {...}, "ok": true, "error": null, "result": {<measuring program's JSON, see bench.md>}}
Runs of one (scenario, system, params) cell are summarised by their MEDIAN; headline numbers also
show n and the min-max spread. Failed runs (ok: false, or no result) are left out of the medians
and listed under their table; missing systems or cells render as "—". The Markdown links the plots
relatively (e.g. ../bench/plots/throughput.png from docs/).
"""
import argparse
import datetime
import json
import os
import statistics

import matplotlib
import matplotlib.ticker
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SYSTEMS = ["direct", "gateway", "node", "grpc-gateway"]
COLORS = {"direct": "tab:gray", "gateway": "tab:blue", "node": "tab:green", "grpc-gateway": "tab:orange",
          "gateway-fanout": "tab:purple", "nchan": "tab:red", "gateway-h2": "tab:cyan"}
# The fan-out scenario's own systems (not listed in the other scenarios' tables), its p99 bound for
# "sustained", and the share of S x R events/s a sustained cell must deliver.
FANOUT_SYSTEMS = ["gateway-fanout", "nchan", "gateway"]
FANOUT_P99_MS = 100.0
FANOUT_DELIVERED = 0.97
# The multiplex scenario's cells (params "cell"), in table order (labels: mux_label).
MULTIPLEX_CELLS = ["slow", "fast", "separate", "multiplex"]
# "Not starved": the slow subscription's p99 on the multiplexed connection within this factor of the
# slow stream's p99 on its own connection while the same fast stream runs on another one (the same
# load on the machine without the multiplexing).
MUX_P99_VS_SEPARATE = 2.0
# The HTTP/2 scenario's systems, in table order: the gateway over HTTP/1.1 (one connection per stream,
# the baseline of its ratios) and over h2c (the streams sharing params "h2_connections" connections).
H2_SYSTEMS = ["gateway", "gateway-h2"]
ROW_PARAM = {"throughput": "payload_bytes", "streams": "streams"}  # ttfe/churn: row = params label
EXPECTED_ROWS = {"throughput": [64, 4096], "streams": [100, 1000, 10000, 19000]}
DASH = "—"
# Churn cycles/s of the gateway before the event-loop front door (issue 12), from docs/benchmarks.md
# as of commit 508aa4f (run of 2026-11-27, gateway 6cd5832); "today's" in the churn target.
CHURN_BEFORE_FRONT_DOOR = 3948
# Threads may differ by this much between two samples for a count to be called constant: gRPC's
# own executor may start a thread under load, which does not depend on the number of connections.
THREAD_SLACK = 2
BASELINE_RULE = ("threads and fds equal to before, and RSS within max(10% of before, 5 MiB) of before, "
                 "in every run")


# ---------------------------------------------------------------- data
def load_results(paths):
    """Parse the JSONL files; unparsable lines become notes instead of errors."""
    records, problems = [], []
    for path in paths:
        r, p = load_one(path)
        records += r
        problems += p
    return records, problems


def load_one(path):
    records, problems = [], []
    with open(path) as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError("not a JSON object")
                records.append(rec)
            except ValueError as e:
                problems.append(f"{path} line {i} ignored: {e}")
    return records, problems


class Cell:
    """All runs of one (scenario, row, system) cell."""

    def __init__(self):
        self.runs = []

    @staticmethod
    def is_ok(run):
        return bool(run.get("ok")) and isinstance(run.get("result"), dict)

    def ok_results(self):
        return [r["result"] for r in self.runs if self.is_ok(r)]

    def values(self, fn):
        """fn(result) over the successful runs; runs lacking the field (partial results) are skipped."""
        out = []
        for res in self.ok_results():
            try:
                v = fn(res)
            except (KeyError, TypeError, ValueError, ZeroDivisionError):
                continue
            if v is not None:
                out.append(float(v))
        return out

    def spread(self, fn):
        """(median, min, max) or None."""
        v = self.values(fn)
        return (statistics.median(v), min(v), max(v)) if v else None

    def med(self, fn):
        sp = self.spread(fn)
        return sp[0] if sp else None

    def n_label(self):
        ok, total = len(self.ok_results()), len(self.runs)
        return str(ok) if ok == total else f"{ok}/{total}"


def params_label(params, skip=None):
    items = [f"{k}={v}" for k, v in sorted(params.items()) if v and k != skip]
    return ", ".join(items) or "defaults"


def group(records):
    """cells[scenario][row][system] -> Cell, plus the systems seen and per-scenario param labels."""
    cells, seen, plabels = {}, set(), {}
    for rec in records:
        sc, sysname = rec.get("scenario"), rec.get("system")
        params = rec.get("params") if isinstance(rec.get("params"), dict) else {}
        if not sc or not sysname:
            continue
        if sc == "fanout":  # Rows are (subscribers, rate); its systems stay out of `systems`.
            row = (params.get("streams", 0), params.get("rate", 0))
            cells.setdefault(sc, {}).setdefault(row, {}).setdefault(sysname, Cell()).runs.append(rec)
            continue
        if sc == "h2":  # Rows: (streams, h2 connections); its systems stay out of `systems`.
            row = (params.get("streams", 0), params.get("h2_connections", 0))
            cells.setdefault(sc, {}).setdefault(row, {}).setdefault(sysname, Cell()).runs.append(rec)
            continue
        if sc == "multiplex":  # Rows: (variant, fast payload, cell, slow subscriptions); gateway only.
            row = (mux_variant(params), params.get("fast_payload_bytes", 0), params.get("cell", "?"),
                   params.get("slow", 0))
            cells.setdefault(sc, {}).setdefault(row, {}).setdefault(sysname, Cell()).runs.append(rec)
            continue
        seen.add(sysname)
        row = params.get(ROW_PARAM[sc], 0) if sc in ROW_PARAM else params_label(params)
        row = row if isinstance(row, int) else str(row)
        if sc in ROW_PARAM:
            plabels.setdefault(sc, set()).add(params_label(params, skip=ROW_PARAM[sc]))
        cells.setdefault(sc, {}).setdefault(row, {}).setdefault(sysname, Cell()).runs.append(rec)
    for sc, rows in EXPECTED_ROWS.items():
        for row in rows:
            cells.setdefault(sc, {}).setdefault(row, {})
    systems = SYSTEMS + sorted(seen - set(SYSTEMS))
    return cells, systems, plabels


def cell(cells, sc, row, sysname):
    return cells.get(sc, {}).get(row, {}).get(sysname) or Cell()


def field(*path, scale=1.0):
    def fn(res):
        for k in path:
            res = res[k]
        return None if res is None else res * scale
    return fn


def rss_per_stream(res):
    t = res["target"]
    return (t["rss_kib_hold"] - t["rss_kib_before"]) / res["connected"]


def cpu_pct(res):
    return 100.0 * res["target"]["cpu_s_hold"] / res["duration_s"]


def at_baseline(res):
    """True/False per BASELINE_RULE; KeyError when the run has no target readings."""
    t = res["target"]
    rss_slack = max(0.10 * t["rss_kib_before"], 5 * 1024)
    return (t["threads_hold"] == t["threads_before"] and t["fds_hold"] == t["fds_before"]
            and abs(t["rss_kib_hold"] - t["rss_kib_before"]) <= rss_slack)


# ---------------------------------------------------------------- formatting
def fmt(v, nd=0, unit=""):
    return DASH if v is None else f"{v:,.{nd}f}{unit}"


def fmt_spread(sp, nd=0):
    if sp is None:
        return DASH
    return f"{fmt(sp[0], nd)} ({fmt(sp[1], nd)}–{fmt(sp[2], nd)})"


def row_name(sc, row):
    if sc == "throughput" and isinstance(row, int):
        return f"{row // 1024} KiB" if row >= 1024 and row % 1024 == 0 else f"{row} B"
    return f"{row:,}" if isinstance(row, int) else str(row)


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def judge(value, target, higher_better=True):
    """'met' / 'missed by X%' / '— (no data)'."""
    if value is None or target is None:
        return f"{DASH} (no data)"
    if (value >= target) if higher_better else (value <= target):
        return "met"
    if target == 0:
        return "missed"
    miss = (target - value) / target if higher_better else (value - target) / target
    return f"missed by {100 * abs(miss):.0f}%"


def failure_notes(cells, sc, systems):
    """Bullet lines for failed runs and systems with no runs in this scenario."""
    notes, ran = [], set()
    for row in rows_of(cells, sc):
        for sysname, c in cells.get(sc, {}).get(row, {}).items():
            ran.add(sysname)
            for r in (r for r in c.runs if not Cell.is_ok(r)):
                err = str(r.get("error") or "no result").replace("\n", " ")[:200]
                notes.append(f"- {sysname}, {row_name(sc, row)}, run {r.get('run', '?')}: failed — {err}")
    notes += [f"- {s}: no runs recorded (not built or not run)" for s in systems if s not in ran]
    return ("\n\nFailed or missing runs (shown as —):\n" + "\n".join(notes)) if notes else ""


def rows_of(cells, sc):
    """Sorted row keys of a scenario; a single '—' row when it has none, so tables never come out empty."""
    return sorted(cells.get(sc, {}), key=lambda r: (isinstance(r, str), r)) or [DASH]


def params_note(plabels, sc):
    labels = sorted(plabels.get(sc, []))
    return f"Run parameters: {'; '.join(labels)}.\n\n" if labels else ""


# ---------------------------------------------------------------- sections
def section_throughput(cells, systems, plabels, targets, plot):
    eps, mbs = field("events_per_s"), field("mbytes_per_s")
    rows, ratio_lines = [], []
    for row in rows_of(cells, "throughput"):
        d, g, n = (cell(cells, "throughput", row, s).med(eps) for s in ("direct", "gateway", "node"))
        for s in systems:
            c = cell(cells, "throughput", row, s)
            m = c.med(eps)
            rows.append([row_name("throughput", row), s, c.n_label(), fmt_spread(c.spread(eps)),
                         fmt_spread(c.spread(mbs), 1), fmt(m / d if m is not None and d else None, 2, "×")])
        name, parts = row_name("throughput", row), []
        for peer, base, goal in (("direct", d, 0.8), ("node", n, 3.0)):
            ratio = g / base if g is not None and base else None
            parts.append(f"gateway/{peer} = {fmt(ratio, 2, '×')} (target ≥ {goal:g}×: {judge(ratio, goal)})")
            targets.append((f"One stream, {name}: gateway ≥ {goal:g}× {peer} events/s", fmt(ratio, 2, "×"),
                            judge(ratio, goal)))
        ratio_lines.append(f"- {name}: " + "; ".join(parts))
    return ("## Scenario 1 — One stream, as fast as possible\n\n" + params_note(plabels, "throughput")
            + table(["Payload", "System", "n", "events/s median (min–max)", "MB/s median (min–max)",
                     "vs direct"], rows)
            + "\n\n" + "\n".join(ratio_lines) + failure_notes(cells, "throughput", systems)
            + f"\n\n![throughput]({plot('throughput.png')})\n")


def section_streams(cells, systems, plabels, targets, plot):
    p50, p99 = field("latency_us", "p50", scale=1e-3), field("latency_us", "p99", scale=1e-3)
    rows = []
    for row in rows_of(cells, "streams"):
        direct = cell(cells, "streams", row, "direct")
        for s in systems:
            c = cell(cells, "streams", row, s)
            added = [c.med(f) - direct.med(f) if c.med(f) is not None and direct.med(f) is not None else None
                     for f in (p50, p99)]
            conn, fail = c.med(field("connected")), c.med(field("failed"))
            rows.append([row_name("streams", row), s, c.n_label(),
                         f"{fmt(conn)}/{fmt(fail)}" if conn is not None else DASH,
                         fmt(c.med(field("events_per_s"))), fmt(c.med(p50), 1), fmt_spread(c.spread(p99), 1),
                         fmt(added[0], 1), fmt(added[1], 1), fmt_spread(c.spread(rss_per_stream), 1),
                         fmt(c.med(cpu_pct), 0), fmt(c.med(field("target", "threads_hold"))),
                         fmt(c.med(field("target", "fds_hold")))])
    gw10k, node10k = cell(cells, "streams", 10000, "gateway"), cell(cells, "streams", 10000, "node")
    gp99 = gw10k.med(p99)
    targets.append(("10,000 streams: gateway latency p99 ≤ 50 ms", fmt(gp99, 1, " ms"),
                    judge(gp99, 50.0, higher_better=False)))
    g_rss, n_rss = gw10k.med(rss_per_stream), node10k.med(rss_per_stream)
    targets.append(("10,000 streams: gateway RSS/stream ≤ node's",
                    f"{fmt(g_rss, 1)} vs {fmt(n_rss, 1)} KiB", judge(g_rss, n_rss, higher_better=False)))
    targets.append(("10,000 streams: gateway RSS/stream ≤ 21.5 KiB (before the event-loop front door)",
                    fmt(g_rss, 1, " KiB"), judge(g_rss, 21.5, higher_better=False)))
    gw19k = cell(cells, "streams", 19000, "gateway")
    g19p99 = gw19k.med(p99)
    targets.append(("19,000 streams: gateway latency p99 ≤ 50 ms", fmt(g19p99, 1, " ms"),
                    judge(g19p99, 50.0, higher_better=False)))
    held = sum(1 for r in gw19k.ok_results() if r.get("connected", 0) >= 19000 and r.get("failed", 1) == 0)
    total = len(gw19k.runs)
    verdict = "met" if total and held == total else f"missed (held in {held}/{total} runs)"
    conn, fail = fmt(gw19k.med(field("connected"))), fmt(gw19k.med(field("failed")))
    targets.append(("19,000 streams: gateway holds them all (connected = 19,000, failed = 0, every run)",
                    f"connected {conn}, failed {fail} (median); held in {held}/{total} runs",
                    verdict if total else f"{DASH} (no data)"))
    return ("## Scenario 2 — Many streams at 1 event/s\n\n" + params_note(plabels, "streams")
            + "Latency = receive time − backend send time. *+p50/+p99* = system minus direct at the same "
              "stream count. RSS/stream = (RSS at hold − RSS before) / connected. CPU = CPU seconds of the "
              "system under test during the window / window length, in % of one core. Threads and fds at "
              "hold.\n\n"
            + table(["Streams", "System", "n", "connected/failed", "events/s", "p50 ms", "p99 ms (min–max)",
                     "+p50 ms", "+p99 ms", "RSS/stream KiB (min–max)", "CPU %", "threads", "fds"], rows)
            + failure_notes(cells, "streams", systems)
            + f"\n\n![latency vs streams]({plot('latency_vs_streams.png')})\n"
            + f"![RSS per stream]({plot('rss_per_stream.png')})\n"
            + f"![CPU vs streams]({plot('cpu_vs_streams.png')})\n")


def section_ttfe(cells, systems, plabels, targets, plot):
    rows = []
    for row in rows_of(cells, "ttfe"):
        for s in systems:
            c = cell(cells, "ttfe", row, s)
            rows.append([row, s, c.n_label(), fmt_spread(c.spread(field("ttfe_us", "p50", scale=1e-3)), 2),
                         fmt_spread(c.spread(field("ttfe_us", "p99", scale=1e-3)), 2),
                         fmt(c.med(field("ttfe_us", "count")))])
    lines = []
    for row in rows_of(cells, "ttfe"):
        d, g = cell(cells, "ttfe", row, "direct"), cell(cells, "ttfe", row, "gateway")
        parts = []
        for q, goal in (("p50", 1.5), ("p99", 2.0)):
            f = field("ttfe_us", q)
            ratio = g.med(f) / d.med(f) if g.med(f) is not None and d.med(f) else None
            parts.append(f"{q} gateway/direct = {fmt(ratio, 2, '×')} (target ≤ {goal:g}×: "
                         f"{judge(ratio, goal, higher_better=False)})")
            targets.append((f"Time to first event {q}: gateway ≤ {goal:g}× direct",
                            f"{fmt(ratio, 2, '×')} ({fmt(g.med(f) and g.med(f) / 1e3, 2)} vs "
                            f"{fmt(d.med(f) and d.med(f) / 1e3, 2)} ms)",
                            judge(ratio, goal, higher_better=False)))
        lines.append("- " + "; ".join(parts))
    return ("## Scenario 3 — Time to first event\n\n"
            "Time from starting the TCP connect (or the gRPC call) to receiving the first event.\n\n"
            + table(["Params", "System", "n", "p50 ms (min–max)", "p99 ms (min–max)", "samples"], rows)
            + "\n\n" + "\n".join(lines)
            + failure_notes(cells, "ttfe", systems) + f"\n\n![ttfe]({plot('ttfe.png')})\n")


def section_churn(cells, systems, plabels, targets, plot):
    def before_after(c, name):
        b, a = c.med(field("target", name + "_before")), c.med(field("target", name + "_hold"))
        return DASH if b is None and a is None else f"{fmt(b)} → {fmt(a)}"
    rows = []
    for row in rows_of(cells, "churn"):
        for s in systems:
            c = cell(cells, "churn", row, s)
            flags = [bool(v) for v in c.values(at_baseline)]
            base = DASH if not flags else f"{'yes' if all(flags) else 'no'} ({sum(flags)}/{len(flags)})"
            rows.append([row, s, c.n_label(), fmt(c.med(field("cycles"))),
                         fmt_spread(c.spread(field("cycles_per_s")), 1), before_after(c, "rss_kib"),
                         before_after(c, "threads"), before_after(c, "fds"), base])
            if s == "gateway":
                label = short_label(c, ("concurrency", " concurrent"))
                targets.append((f"Churn ({label}): gateway back at baseline",
                                f"{sum(flags)}/{len(flags)} runs at baseline" if flags else DASH,
                                ("met" if all(flags) else "missed") if flags else f"{DASH} (no data)"))
    lines = []
    for row in rows_of(cells, "churn"):
        g = cell(cells, "churn", row, "gateway").med(field("cycles_per_s"))
        peer = cell(cells, "churn", row, "grpc-gateway").med(field("cycles_per_s"))
        vs_peer = g / peer if g is not None and peer else None
        vs_before = g / CHURN_BEFORE_FRONT_DOOR if g is not None else None
        label = short_label(cell(cells, "churn", row, "gateway"), ("concurrency", " concurrent"))
        targets.append((f"Churn ({label}): gateway ≥ 1.5× grpc-gateway cycles/s",
                        f"{fmt(vs_peer, 2, '×')} ({fmt(g)} vs {fmt(peer)})", judge(vs_peer, 1.5)))
        targets.append((f"Churn ({label}): gateway ≥ 2× the {CHURN_BEFORE_FRONT_DOOR:,} cycles/s before "
                        "the event-loop front door", f"{fmt(vs_before, 2, '×')} ({fmt(g)})",
                        judge(vs_before, 2.0)))
        lines.append(f"- {row}: gateway/grpc-gateway = {fmt(vs_peer, 2, '×')}; gateway/before "
                     f"({CHURN_BEFORE_FRONT_DOOR:,} cycles/s, thread per connection) = "
                     f"{fmt(vs_before, 2, '×')}")
    return ("## Scenario 4 — Churn\n\n"
            "Connections opened and closed in cycles; *after* is read after the last cycle plus the settle "
            f"time. Back at baseline = {BASELINE_RULE} (yes/no with the count of runs that qualified).\n\n"
            + table(["Params", "System", "n", "cycles", "cycles/s median (min–max)",
                     "RSS KiB before → after", "threads before → after", "fds before → after",
                     "back at baseline?"], rows)
            + "\n\n" + "\n".join(lines)
            + failure_notes(cells, "churn", systems) + f"\n\n![churn]({plot('churn.png')})\n")


def short_label(c, *parts):
    """A cell's main parameters for a target's name, e.g. '5,000/s to 18,000 streams'."""
    params = c.runs[0].get("params", {}) if c.runs else {}
    out = ""
    for key, suffix in parts:
        v = params.get(key)
        out += (f"{v:,.0f}" if isinstance(v, (int, float)) else "?") + suffix
    return out


def threads_constant(t, before="threads_before", after="threads_hold"):
    return t[after] - t[before] <= THREAD_SLACK


def section_ramp(cells, systems, plabels, targets, plot):
    ttfe99 = field("ttfe_us", "p99", scale=1e-3)
    rows = []
    for row in rows_of(cells, "ramp"):
        for s in systems:
            c = cell(cells, "ramp", row, s)
            if not c.runs:
                continue
            rows.append([row, s, c.n_label(), f"{fmt(c.med(field('connected')))}/{fmt(c.med(field('failed')))}",
                         fmt(c.med(field("ramp_s")), 2), fmt(c.med(field("ttfe_us", "p50", scale=1e-3)), 1),
                         fmt_spread(c.spread(ttfe99), 1), fmt(c.med(field("syn_retransmits"))),
                         f"{fmt(c.med(field('target', 'threads_before')))} → "
                         f"{fmt(c.med(field('target', 'threads_hold')))}"])
        g = cell(cells, "ramp", row, "gateway")
        if not g.runs:
            continue
        label = short_label(g, ("ramp_per_s", "/s to "), ("streams", " streams"))
        p99 = g.med(ttfe99)
        targets.append((f"Ramp ({label}): first-event p99 ≤ 50 ms", fmt(p99, 1, " ms"),
                        judge(p99, 50.0, higher_better=False)))
        res = g.ok_results()
        whole = [r for r in res if r.get("failed", 1) == 0 and r.get("connected") == r.get("connections")]
        targets.append((f"Ramp ({label}): nothing refused (every stream gets its first event, every run)",
                        f"{len(whole)}/{len(g.runs)} runs complete",
                        "met" if g.runs and len(whole) == len(g.runs) else "missed"))
        flat = [threads_constant(r["target"]) for r in res if "target" in r]
        targets.append((f"Ramp ({label}): threads constant (hold − before ≤ {THREAD_SLACK})",
                        f"{sum(flat)}/{len(flat)} runs", "met" if flat and all(flat) else "missed"))
    return ("## Scenario 5 — Ramp of new streams\n\n"
            "New streams opened at a fixed rate until all are held; time to first event of every one. "
            "18,000 rather than 20,000 streams: the machine's open-files limit of 20,000 covers the load "
            "generator's sockets too, so 4 s at 5,000/s cannot be held at once. *SYN retransmits* count "
            "connects that waited in a full listen backlog.\n\n"
            + table(["Params", "System", "n", "first event/failed", "ramp s", "first event p50 ms",
                     "first event p99 ms (min–max)", "SYN retransmits", "threads before → hold"], rows)
            + failure_notes(cells, "ramp", [s for s in systems if s == "gateway"]) + "\n")


def section_slowheads(cells, systems, plabels, targets, plot):
    probe99 = field("probe_us", "p99", scale=1e-3)
    ttfe99 = field("ttfe_us", "p99", scale=1e-3)
    rows = []
    for row in rows_of(cells, "slowheads"):
        for s in systems:
            c = cell(cells, "slowheads", row, s)
            if not c.runs:
                continue
            rows.append([row, s, c.n_label(), f"{fmt(c.med(field('held_at_start')))}",
                         fmt_spread(c.spread(probe99), 2), fmt_spread(c.spread(ttfe99), 2),
                         f"{fmt(c.med(field('target', 'threads_before')))} → "
                         f"{fmt(c.med(field('target', 'threads_hold')))} → "
                         f"{fmt(c.med(field('target', 'threads_after')))}",
                         f"{fmt(c.med(field('target', 'rss_kib_before')))} → "
                         f"{fmt(c.med(field('target', 'rss_kib_hold')))} → "
                         f"{fmt(c.med(field('target', 'rss_kib_after')))}",
                         fmt(c.med(field("target", "rss_per_held_kib")), 2),
                         f"{fmt(c.med(field('closed')))} at {fmt(c.med(field('first_close_s')), 2)}–"
                         f"{fmt(c.med(field('last_close_s')), 2)} s"])
        g = cell(cells, "slowheads", row, "gateway")
        if not g.runs:
            continue
        res = g.ok_results()
        label = short_label(g, ("connections", " connections"))
        p, t = g.med(probe99), g.med(ttfe99)
        targets.append((f"Slow heads ({label}): /healthz p99 ≤ 50 ms while held", fmt(p, 2, " ms"),
                        judge(p, 50.0, higher_better=False)))
        targets.append((f"Slow heads ({label}): fresh stream first event p99 ≤ 100 ms while held",
                        fmt(t, 2, " ms"), judge(t, 100.0, higher_better=False)))
        flat = [threads_constant(r["target"]) for r in res if "target" in r]
        targets.append((f"Slow heads ({label}): threads constant (hold − before ≤ {THREAD_SLACK})",
                        f"{sum(flat)}/{len(flat)} runs", "met" if flat and all(flat) else "missed"))
        per = g.med(field("target", "rss_per_held_kib"))
        targets.append((f"Slow heads ({label}): RSS per held connection ≤ 4 KiB", fmt(per, 2, " KiB"),
                        judge(per, 4.0, higher_better=False)))
        # head_timeout_ms is 10 s (bench/gateway.yaml); the reaper runs at least once a second.
        timely = [r for r in res if r.get("closed") == r.get("opened") and r.get("first_close_s", 0) >= 9.9
                  and r.get("last_close_s", 1e9) <= 12.0]
        targets.append((f"Slow heads ({label}): all closed at head_timeout_ms = 10 s (between 10 and 12 s)",
                        f"{len(timely)}/{len(g.runs)} runs; last at {fmt(g.med(field('last_close_s')), 2)} s",
                        "met" if g.runs and len(timely) == len(g.runs) else "missed"))
        back = [abs(r["target"]["rss_kib_after"] - r["target"]["rss_kib_before"])
                <= 0.10 * r["target"]["rss_kib_before"] for r in res if "target" in r]
        targets.append((f"Slow heads ({label}): RSS afterwards within 10% of before",
                        f"{sum(back)}/{len(back)} runs", "met" if back and all(back) else "missed"))
    return ("## Scenario 6 — Slow heads\n\n"
            "Connections that each send a request line and then one header line every 3 s, never finishing "
            "the head. While they are held, `/healthz` is probed and fresh streams are opened on new "
            "connections; then the run waits for the server to close them all. Threads and RSS are "
            "before → while held → after they were closed (plus 3 s).\n\n"
            + table(["Params", "System", "n", "held", "/healthz p99 ms (min–max)",
                     "fresh stream first event p99 ms (min–max)", "threads", "RSS KiB", "RSS KiB per held",
                     "closed (first–last, s after open)"], rows)
            + failure_notes(cells, "slowheads", [s for s in systems if s in ("gateway", "grpc-gateway")])
            + "\n")


def fanout_sustained(res, params, latency_bound=True):
    """A fan-out cell kept up: every subscriber open to the end, none failed, p99 within
    FANOUT_P99_MS (unless not latency_bound) and at least FANOUT_DELIVERED of S x R events/s."""
    return (res.get("failed", 1) == 0 and res.get("open_at_end", 0) == params["streams"]
            and (not latency_bound or res["latency_us"]["p99"] <= FANOUT_P99_MS * 1000)
            and res["events_per_s"] >= FANOUT_DELIVERED * params["streams"] * params["rate"])


def fanout_cpu(c):
    """'X%' of the system under test; nchan as 'nginx X% + publisher Y%'."""
    server = c.med(cpu_pct)
    pub = [100.0 * r["publisher"]["cpu_s"] / r["publisher"]["wall_s"] for r in c.runs
           if Cell.is_ok(r) and isinstance(r.get("publisher"), dict) and r["publisher"].get("wall_s")]
    if not pub:
        return fmt(server, 0, "%")
    return f"{fmt(server, 0, '%')} + {fmt(statistics.median(pub), 0, '%')} publisher"


def fanout_saturation(cells, subscribers, sysname, latency_bound=True):
    """(highest rate sustained in most runs, median delivered events/s there) or None when no rate
    was. Without latency_bound, p99 is ignored: the highest rate delivered without loss."""
    best = None
    for (s, rate), by_sys in sorted(cells.get("fanout", {}).items()):
        c = by_sys.get(sysname)
        if s != subscribers or c is None:
            continue
        ok = [fanout_sustained(r["result"], r["params"], latency_bound) for r in c.runs if Cell.is_ok(r)]
        if ok and sum(ok) * 2 > len(ok):
            best = (rate, c.med(field("events_per_s")))
    return best


def section_fanout(cells, systems, plabels, targets, plot):
    eps, p50 = field("events_per_s"), field("latency_us", "p50", scale=1e-3)
    p99 = field("latency_us", "p99", scale=1e-3)
    rows = []
    keys = sorted(k for k in cells.get("fanout", {}) if isinstance(k, tuple))
    for key in keys:
        subscribers, rate = key
        for s in FANOUT_SYSTEMS:
            c = cell(cells, "fanout", key, s)
            if not c.runs:
                continue
            ok = [fanout_sustained(r["result"], r["params"]) for r in c.runs if Cell.is_ok(r)]
            rows.append([f"{subscribers:,}", f"{rate:,}", s, c.n_label(), fmt(subscribers * rate),
                         fmt(c.med(eps)), fmt(c.med(p50), 1), fmt(c.med(p99), 1),
                         fmt(c.med(rss_per_stream), 1), fanout_cpu(c),
                         (("yes" if all(ok) else "no") if len(ok) == 1 else f"{sum(ok)}/{len(ok)} runs")
                         if ok else DASH])
    sat_rows = []
    for subscribers in sorted({k[0] for k in keys}):
        sat = {s: fanout_saturation(cells, subscribers, s) for s in FANOUT_SYSTEMS}
        top = max(k[1] for k in keys if k[0] == subscribers)  # A rate sustained there is a lower bound.
        sat_rows.append([f"{subscribers:,}"] + [
            f"{fmt(v[1])} at {v[0]:,}/s{' (highest measured)' if v[0] == top else ''}" if v else "none"
            for v in (sat[s] for s in FANOUT_SYSTEMS)])
        g, n = sat["gateway-fanout"], sat["nchan"]
        ratio = g[1] / n[1] if g and n and n[1] else None
        lossless = {s: fanout_saturation(cells, subscribers, s, False) for s in ("gateway-fanout", "nchan")}
        g2, n2 = lossless["gateway-fanout"], lossless["nchan"]
        sat_rows[-1] += [fmt(ratio, 2, "×")] + [f"{fmt(v[1])} at {v[0]:,}/s" if v else "none"
                                                 for v in (g2, n2)]
        sat_rows[-1].append(fmt(g2[1] / n2[1] if g2 and n2 and n2[1] else None, 2, "×"))
        name = (f"Fan-out, {subscribers:,} subscribers: gateway-fanout ≥ 1.5× nchan delivered events/s "
                "at saturation")
        if g and not n:  # nchan sustained no rate at all.
            targets.append((name, f"{fmt(g[1])} at {g[0]:,}/s vs nchan: no rate sustained", "met"))
        elif not g and not n and g2 and n2:  # Neither kept p99 in bound: compare lossless rates.
            targets.append((name, f"{fmt(g2[1] / n2[1], 2, '×')} (no rate within p99 for either; "
                            "highest rate without loss)", judge(g2[1] / n2[1], 1.5)))
        else:
            targets.append((name, fmt(ratio, 2, "×"), judge(ratio, 1.5)))
    key = (10000, 10)
    g = cell(cells, "fanout", key, "gateway-fanout")
    gp99, g_rss, n_rss = g.med(p99), g.med(rss_per_stream), cell(cells, "fanout", key, "nchan").med(
        rss_per_stream)
    targets.append(("Fan-out, 10,000 subscribers at 10 events/s: gateway-fanout p99 ≤ 50 ms",
                    fmt(gp99, 1, " ms"), judge(gp99, 50.0, higher_better=False)))
    targets.append(("Fan-out, 10,000 subscribers at 10 events/s: gateway-fanout RSS per subscriber ≤ 8 KiB",
                    fmt(g_rss, 2, " KiB"), judge(g_rss, 8.0, higher_better=False)))
    targets.append(("Fan-out, 10,000 subscribers at 10 events/s: gateway-fanout RSS per subscriber ≤ nchan's",
                    f"{fmt(g_rss, 2)} vs {fmt(n_rss, 2)} KiB", judge(g_rss, n_rss, higher_better=False)))
    notes = []
    for key in keys:
        for s, c in cells["fanout"][key].items():
            for r in (r for r in c.runs if not Cell.is_ok(r)):
                err = str(r.get("error") or "no result").replace("\n", " ")[:200]
                notes.append(f"- {s}, {key[0]:,} × {key[1]:,}/s, run {r.get('run', '?')}: failed — {err}")
    return ("## Scenario 7 — Fan-out: many subscribers of one stream\n\n"
            "S subscribers all open the same stream (64 B events at R events/s) and send no Last-Event-ID. "
            "`gateway-fanout` is the gateway's `/v1/shared` route (a `fanout:` block: one upstream call "
            "for all of them, each event rendered and framed once); `nchan` is nginx with the nchan "
            "module (bench/nchan), fed by `bench/nchan_publisher`, which reads one gRPC call, renders "
            "each event to the same JSON and POSTs it to nchan; `gateway` is the plain `/v1/firehose` "
            "route, one upstream call per subscriber. For each S the rate climbs (1, 10, 100, then "
            f"×3 / ×10⁄3) until a system stops sustaining it (p99 > {FANOUT_P99_MS:g} ms, fewer than "
            f"{100 * FANOUT_DELIVERED:g}% of S × R events/s delivered, or a subscriber failed); each "
            "system stops on its own. Latency is from the backend's send stamp to the subscriber. RSS per "
            "subscriber is the growth over the idle server divided by S (nchan: every nginx process "
            "summed; shared memory pages count once per process that touched them). CPU is % of one "
            "core during the window; nchan's publisher is shown separately (over the whole cell).\n\n"
            + table(["S", "R /s", "System", "n", "S×R", "delivered events/s", "p50 ms", "p99 ms",
                     "RSS KiB/sub", "CPU", "sustained"], rows or [[DASH] * 11])
            + "\n\nSaturation: the highest rate each system sustained (in most runs), and its delivered "
            "events/s there (the last three columns ignore p99: the highest rate delivered without loss).\n\n"
            + table(["S"] + FANOUT_SYSTEMS + ["gateway-fanout / nchan", "gateway-fanout, no loss",
                                              "nchan, no loss", "ratio, no loss"], sat_rows or [[DASH] * 8])
            + ("\n\nFailed runs:\n" + "\n".join(notes) if notes else "")
            + f"\n\n![fan-out delivered events/s]({plot('fanout_events.png')})\n"
            + f"\n![fan-out p99]({plot('fanout_p99.png')})\n")


# ---------------------------------------------------------------- multiplex
def mux_slow(res):
    """The slow stream's latency object: the measured subscriptions' (multiplexed connection) or
    the connection's own (slow alone, beside a fast connection)."""
    mux = res.get("multiplex")
    return mux["measured"]["latency_us"] if mux else res["latency_us"]


def mux_slow_q(q):
    return lambda res: mux_slow(res)[q] / 1e3


def mux_slow_eps(res):
    mux = res.get("multiplex")
    return mux["measured"]["events_per_s"] if mux else res["events_per_s"]


def mux_fast_eps(res):
    """The fast stream's events/s: its subscription's, its own connection's (fast alone), or the
    companion connection's (separate)."""
    mux = res.get("multiplex")
    if mux:
        return mux["fast"]["events_per_s"]
    return res["companion"]["events_per_s"] if "companion" in res else res["events_per_s"]


def mux_cpu(res):
    return 100.0 * res["target"]["cpu_s_hold"] / res["duration_s"]


def mux_label(cell_name, slow):
    return {"slow": "slow alone, own connection (a)",
            "fast": "fast alone, own connection",
            "separate": "slow + fast on two connections",
            "multiplex": f"multiplexed: {slow} slow + 1 fast" + (" (b)" if slow == 1 else " (c)")
            }.get(cell_name, cell_name)


def mux_variant(params):
    """What must match for multiplex runs to be one cell besides the row: rates, sizes, window."""
    return params_label({k: params.get(k) for k in ("slow_rate", "slow_payload_bytes", "fast_rate",
                                                      "duration_s", "warmup_s")})


def mux_keys(cells, variant=None):
    """The multiplex cells (variant, fast payload, cell, slow subscriptions) in table order: per
    variant the slow-alone ceiling, then per fast payload."""
    order = {c: i for i, c in enumerate(MULTIPLEX_CELLS)}
    keys = [k for k in cells.get("multiplex", {}) if variant is None or k[0] == variant]
    return sorted(keys, key=lambda k: (k[0], k[2] != "slow", k[1], order.get(k[2], 99), k[3]))


def mux_variants(cells):
    """Variants, the one with the most runs first (the plot's)."""
    runs = {}
    for key, by_system in cells.get("multiplex", {}).items():
        runs[key[0]] = runs.get(key[0], 0) + sum(len(c.runs) for c in by_system.values())
    return sorted(runs, key=lambda v: (-runs[v], v))


def ratio(a, b):
    return a / b if a is not None and b else None


def section_multiplex(cells, systems, plabels, targets, plot):
    variants = mux_variants(cells)
    several = len(variants) > 1
    blocks, notes, desc = [], [], {}
    for variant in variants or [None]:
        keys = mux_keys(cells, variant)
        mc = lambda key: cell(cells, "multiplex", key, "gateway")  # noqa: E731
        params = next((r.get("params", {}) for k in keys for r in mc(k).runs), {})
        desc = desc or params
        slow_rate = params.get("slow_rate", 10)
        a = mc((variant, 0, "slow", 1))
        a50, a99 = a.med(mux_slow_q("p50")), a.med(mux_slow_q("p99"))
        suffix = f" [{variant}]" if several else ""
        rows, lines = [], []
        for key in keys:
            _, payload, name, slow = key
            c = mc(key)
            fast_alone = mc((variant, payload, "fast", 0))
            f_eps = c.med(mux_fast_eps) if name != "slow" else None
            has_slow = name != "fast"
            runs = c.med(field("multiplex", "fast", "runs", "max"))
            over = c.spread(field("multiplex", "fast", "overtakes", "max"))
            expected = f_eps / slow_rate if runs is not None and f_eps else None
            rows.append([DASH if name == "slow" else row_name("throughput", payload), mux_label(name, slow),
                         c.n_label(),
                         fmt(c.med(mux_slow_eps), 1) if has_slow else DASH,
                         fmt_spread(c.spread(mux_slow_q("p50")), 2) if has_slow else DASH,
                         fmt_spread(c.spread(mux_slow_q("p99")), 2) if has_slow else DASH,
                         fmt(ratio(c.med(mux_slow_q("p50")), a50), 1, "×") if has_slow else DASH,
                         fmt(ratio(c.med(mux_slow_q("p99")), a99), 1, "×") if has_slow else DASH,
                         fmt_spread(c.spread(mux_fast_eps)) if f_eps is not None else DASH,
                         fmt(ratio(f_eps, fast_alone.med(mux_fast_eps)), 2, "×") if f_eps is not None else DASH,
                         f"{fmt(runs)} ({fmt(expected)})" if runs is not None else DASH,
                         f"{fmt(c.med(field('multiplex', 'fast', 'overtakes', 'p99')))} / {fmt_spread(over)}"
                         if over else DASH,
                         fmt(c.med(mux_cpu))])
            for r in (r for r in c.runs if not Cell.is_ok(r)):
                err = str(r.get("error") or "no result").replace("\n", " ")[:200]
                notes.append(f"- {mux_label(name, slow)}, {row_name('throughput', payload)}{suffix}, run "
                             f"{r.get('run', '?')}: failed — {err}")
        for payload in sorted({k[1] for k in keys if k[2] != "slow"}):
            size = row_name("throughput", payload)
            sep = mc((variant, payload, "separate", 1))
            fast_alone = mc((variant, payload, "fast", 0)).med(mux_fast_eps)
            s99 = sep.med(mux_slow_q("p99"))
            s50 = sep.med(mux_slow_q("p50"))
            for k in (k for k in keys if k[1] == payload and k[2] == "multiplex"):
                m = mc(k)
                m50, m99 = m.med(mux_slow_q("p50")), m.med(mux_slow_q("p99"))
                f = m.med(mux_fast_eps)
                tag = "(b)" if k[3] == 1 else "(c)"
                lines.append(
                    f"- fast {size}, {k[3]} slow + 1 fast {tag}: slow latency {tag}/(a) = p50 "
                    f"{fmt(ratio(m50, a50), 2, '×')}, p99 {fmt(ratio(m99, a99), 2, '×')} "
                    f"({fmt(m50, 2)} / {fmt(m99, 2)} ms vs {fmt(a50, 2)} / {fmt(a99, 2)} ms); against the slow "
                    f"stream beside the fast one on its own connection: p50 {fmt(ratio(m50, s50), 2, '×')}, "
                    f"p99 {fmt(ratio(m99, s99), 2, '×')}; fast throughput {fmt(ratio(f, fast_alone), 2, '×')} "
                    f"of the fast stream alone ({fmt(f)} vs {fmt(fast_alone)} events/s); largest fast run "
                    f"{fmt(m.med(field('multiplex', 'fast', 'runs', 'max')))} (fast events/s ÷ "
                    f"{slow_rate:g} = {fmt(ratio(f, slow_rate))}), fast events overtaking a slow one at most "
                    f"{fmt(m.med(field('multiplex', 'fast', 'overtakes', 'max')))}")
                # Starvation, concretely: slow events not delivered, or delivered later than the same
                # load on the machine explains (the slow stream beside the fast one on its own connection).
                delivered = m.med(mux_slow_eps)
                want = k[3] * slow_rate
                vs_sep = ratio(m99, s99)
                verdict = (f"{DASH} (no data)" if vs_sep is None or delivered is None else
                           "met" if vs_sep <= MUX_P99_VS_SEPARATE and delivered >= FANOUT_DELIVERED * want
                           else "missed")
                targets.append((f"Multiplex, {k[3]} slow + 1 fast {size}{suffix}: the fast subscription does "
                                "not starve the slow ones (every slow event delivered; slow p99 ≤ "
                                f"{MUX_P99_VS_SEPARATE:g}× the slow stream's beside the fast one on its own "
                                "connection)",
                                f"{fmt(vs_sep, 2, '×')} ({fmt(m99, 2)} vs {fmt(s99, 2)} ms); slow "
                                f"{fmt(delivered, 1)} of {want:g} events/s; {fmt(ratio(m99, a99), 2, '×')} the "
                                "slow stream alone", verdict))
        runs = max((r.get("run", 0) for k in keys for r in mc(k).runs), default=0)
        payloads = sorted({k[1] for k in keys if k[1]})
        cmd = (f"python3 bench/run_benchmarks.py --scenarios multiplex --runs {runs}"
               + (f" --multiplex-payloads {','.join(str(p) for p in payloads)}" if payloads else "")
               + (f" --multiplex-duration-s {params['duration_s']:g}" if "duration_s" in params else ""))
        blocks.append((f"Run parameters: {variant}.\n\n" if several else "")
                      + f"Command: `{cmd}` (also part of `bash bench/run.sh`); every cell on a fresh gateway "
                      "(bench/gateway.yaml's `multiplex:` endpoint).\n\n"
                      + table(["Fast payload", "Cell", "n", "slow events/s", "slow p50 ms (min–max)",
                               "slow p99 ms (min–max)", "p50 / (a)", "p99 / (a)", "fast events/s (min–max)",
                               "fast / alone", "largest fast run (rates alone)", "overtakes p99 / max (min–max)",
                               "CPU %"], rows or [[DASH] * 13])
                      + ("\n\n" + "\n".join(lines) if lines else ""))
    return ("## Scenario 8 — Multiplex fairness: a slow subscription beside a fast one\n\n"
            f"A *slow* stream (`/v1/firehose?rate={desc.get('slow_rate', 10):g}&payload_bytes="
            f"{desc.get('slow_payload_bytes', 64)}`) and a *fast* one (`rate={desc.get('fast_rate', 0)}`"
            + (": as fast as flow control and the gateway allow" if not desc.get("fast_rate") else "")
            + ") measured (a) the slow stream alone on its own connection (the ceiling); the fast stream "
            "alone; both at once on two connections (the same load on the machine, no multiplexing); (b) one "
            "`/v1/multiplex` connection carrying the slow subscription and the fast one; (c) the same with "
            "15 slow subscriptions. Slow latency is from the backend's send stamp to the client, per "
            "event of the slow subscription(s) (in (c) the 15 pooled). *Largest fast run*: the most fast "
            "events the client received between two consecutive events of one slow subscription (in "
            "parentheses what the rates alone give: fast events/s ÷ slow events/s). *Overtakes*: per slow "
            "event, the fast events the client received before it that the backend sent after it (p99 / "
            "max, median over runs with min–max). Round robin lets at most one fast message go before a "
            "slow message once both wait in the gateway, but a slow event gets there by its own path (the "
            "backend's pacer, gRPC threads woken from idle), usually slower than the busy fast stream's, so "
            "overtakes ≈ fast events/s × (that slow event's latency − the fast events' latency) even in "
            "perfect turn order: the test that the fast subscription does not hold the slow one back is its "
            "latency against the slow stream beside the same fast stream on its own connection (in the "
            "Targets). CPU is the gateway's, % of one core.\n\n"
            + "\n\n".join(blocks)
            + ("\n\nFailed runs:\n" + "\n".join(notes) if notes else "")
            + f"\n\n![multiplex slow latency]({plot('multiplex.png')})\n")


# ---------------------------------------------------------------- HTTP/2
def h2_command(runs, params):
    """The run_benchmarks.py command that measures these params (defaults left out)."""
    cmd = f"python3 bench/run_benchmarks.py --scenarios h2 --runs {runs}"
    if params.get("streams", 10000) != 10000:
        cmd += f" --h2-streams {params['streams']}"
    if params.get("h2_connections", 100) != 100:
        cmd += f" --h2-connections {params['h2_connections']}"
    if params.get("duration_s", 10) != 10:
        cmd += f" --h2-duration-s {params['duration_s']:g}"
    if params.get("warmup_s", 4) != 4:
        cmd += f" --warmup-s {params['warmup_s'] - 2:g}"
    return cmd


def section_h2(cells, systems, plabels, targets, plot):
    p50, p99 = field("latency_us", "p50", scale=1e-3), field("latency_us", "p99", scale=1e-3)
    keys = sorted(k for k in cells.get("h2", {}) if isinstance(k, tuple))
    rows, lines, notes, blocks = [], [], [], []
    for key in keys:
        streams, connections = key
        base, h2 = cell(cells, "h2", key, "gateway"), cell(cells, "h2", key, "gateway-h2")
        for s in H2_SYSTEMS:
            c = cell(cells, "h2", key, s)
            if not c.runs:
                continue
            conn, fail = c.med(field("connected")), c.med(field("failed"))
            rows.append([f"{streams:,}", s, "h2c" if s == "gateway-h2" else "HTTP/1.1",
                         fmt(c.med(field("tcp_connections"))), c.n_label(),
                         f"{fmt(conn)}/{fmt(fail)}" if conn is not None else DASH,
                         fmt(c.med(field("events_per_s"))), fmt_spread(c.spread(p50), 2),
                         fmt_spread(c.spread(p99), 1), fmt_spread(c.spread(rss_per_stream), 2),
                         fmt(c.med(cpu_pct), 0), fmt(c.med(field("target", "threads_hold"))),
                         fmt(c.med(field("target", "fds_hold")))])
            for r in (r for r in c.runs if not Cell.is_ok(r)):
                err = str(r.get("error") or "no result").replace("\n", " ")[:200]
                notes.append(f"- {s}, {streams:,} streams, run {r.get('run', '?')}: failed — {err}")
        b_rss, h_rss = base.med(rss_per_stream), h2.med(rss_per_stream)
        parts = [f"{q} {fmt(ratio(h2.med(f), base.med(f)), 2, '×')} ({fmt(h2.med(f), nd)} vs "
                 f"{fmt(base.med(f), nd)} {unit})"
                 for q, f, nd, unit in (("p50", p50, 2, "ms"), ("p99", p99, 1, "ms"),
                                        ("RSS/stream", rss_per_stream, 2, "KiB"), ("CPU", cpu_pct, 1, "%"))]
        lines.append(f"- {streams:,} streams, gateway-h2 ({connections:,} connections) / gateway over HTTP/1.1 "
                     f"({streams:,} connections), same run: " + ", ".join(parts))
        targets.append((f"HTTP/2, {streams:,} streams over {connections:,} connections at 1 event/s: gateway RSS "
                        f"per stream ≤ HTTP/1.1's ({streams:,} connections, same run)",
                        f"{fmt(h_rss, 2)} vs {fmt(b_rss, 2)} KiB ({fmt(ratio(h_rss, b_rss), 3, '×')})",
                        judge(h_rss, b_rss, higher_better=False)))
        runs = max((r.get("run", 0) for s in H2_SYSTEMS for r in cell(cells, "h2", key, s).runs), default=0)
        params = next((r.get("params", {}) for s in H2_SYSTEMS for r in cell(cells, "h2", key, s).runs), {})
        records = max(len(cell(cells, "h2", key, s).runs) for s in H2_SYSTEMS)
        pooled = records // runs if runs and records > runs and records % runs == 0 else 1
        blocks.append(f"`{h2_command(runs, params)}`" + (f" {pooled} times, pooled" if pooled > 1 else ""))
    return ("## Scenario 9 — HTTP/2: many streams over few connections\n\n"
            "The same streams at 1 event/s (64 B, `/v1/firehose?rate=1&payload_bytes=64`) on the same gateway "
            "config (bench/gateway.yaml, with `http2: {enabled: true, max_concurrent_streams: 256}`): "
            "`gateway` over HTTP/1.1, one connection per stream; `gateway-h2` over HTTP/2 in cleartext with "
            "prior knowledge (h2c), the streams sharing few connections (`loadgen --http2 "
            "--streams_per_connection=N`, nghttp2 client sessions with Chrome's receive windows). Every cell "
            "on a fresh gateway, the two interleaved run by run. Latency, RSS/stream (= (RSS at hold − RSS "
            "before) / connected streams), CPU (% of one core during the window), threads and fds as in "
            "Scenario 2; TCP connections = the load generator's connects that completed. Ratios are "
            "gateway-h2 / gateway over the medians of the same run.\n\n"
            + (f"Command: {', '.join(blocks)} (also part of `bash bench/run.sh`).\n\n" if blocks else "")
            + table(["Streams", "System", "Protocol", "TCP connections", "n", "connected/failed", "events/s",
                     "p50 ms (min–max)", "p99 ms (min–max)", "RSS/stream KiB (min–max)", "CPU %", "threads",
                     "fds"], rows or [[DASH] * 13])
            + ("\n\n" + "\n".join(lines) if lines else "")
            + ("\n\nFailed runs:\n" + "\n".join(notes) if notes else "") + "\n")


def plot_multiplex(cells, plots_dir):
    """The slow stream's p50 and p99 per cell, one panel per fast payload (log scale), for the
    variant with the most runs."""
    variants = mux_variants(cells)
    variant = variants[0] if variants else None
    keys = mux_keys(cells, variant)
    payloads = sorted({k[1] for k in keys if k[2] != "slow"}) or [0]
    fig, axes = plt.subplots(1, len(payloads), figsize=(6 * len(payloads) + 1, 4.8), squeeze=False)
    for ax, payload in zip(axes[0], payloads):
        shown = [k for k in keys if k[2] == "slow" or (k[1] == payload and k[2] != "fast")]
        has_data = False
        for i, (q, color) in enumerate((("p50", "tab:blue"), ("p99", "tab:orange"))):
            for j, key in enumerate(shown):
                sp = cell(cells, "multiplex", key, "gateway").spread(mux_slow_q(q))
                if sp is None:
                    continue
                x = j + (i - 0.5) * 0.4
                ax.bar(x, sp[0], 0.4, yerr=[[sp[0] - sp[1]], [sp[2] - sp[0]]], capsize=3, color=color,
                       label=q)
                ax.annotate(_short(sp[0]), (x, sp[2]), xytext=(0, 3), textcoords="offset points",
                            ha="center", va="bottom", fontsize=8)
                has_data = True
        ax.set_xticks(range(len(shown)), [mux_label(k[2], k[3]).replace(", ", ",\n").replace(": ", ":\n")
                                          for k in shown], fontsize=7)
        ax.set_title(f"fast payload {row_name('throughput', payload)}")
        ax.set_ylabel("slow stream latency ms (log)")
        if has_data:
            ax.set_yscale("log")
            handles, labels = ax.get_legend_handles_labels()
            uniq = dict(zip(labels, handles))
            ax.legend(uniq.values(), uniq.keys(), fontsize="small")
            ax.grid(True, axis="y", alpha=0.3)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle("Multiplex: slow stream latency (median of runs, min–max)"
                 + (f"\n{variant}" if len(variants) > 1 else ""))
    fig.tight_layout()
    fig.savefig(os.path.join(plots_dir, "multiplex.png"), dpi=100)
    plt.close(fig)


def plot_fanout(cells, plots_dir):
    """Delivered events/s and p99 against R: one panel per S, one line per system."""
    keys = sorted(k for k in cells.get("fanout", {}) if isinstance(k, tuple))
    counts = sorted({k[0] for k in keys}) or [0]
    for name, fn, ylabel, title in (
            ("fanout_events.png", field("events_per_s"), "delivered events/s (log)",
             "Fan-out: delivered events/s vs rate (dashed: S × R asked)"),
            ("fanout_p99.png", field("latency_us", "p99", scale=1e-3), "p99 latency ms (log)",
             f"Fan-out: p99 latency vs rate (line: {FANOUT_P99_MS:g} ms)")):
        fig, axes = plt.subplots(1, len(counts), figsize=(4 * len(counts) + 1, 4.5), squeeze=False)
        for ax, subscribers in zip(axes[0], counts):
            rates = [rate for (n, rate) in keys if n == subscribers]
            for s in FANOUT_SYSTEMS:
                pts = [(rate, v) for rate in rates
                       for v in [cell(cells, "fanout", (subscribers, rate), s).med(fn)] if v is not None]
                if pts:
                    ax.plot(*zip(*pts), "-", color=COLORS.get(s), marker="o", label=s)
            if rates:
                ax.set_xscale("log")
                ax.set_yscale("log")
                if name == "fanout_events.png":
                    ax.plot(rates, [subscribers * r for r in rates], "--", color="gray", linewidth=0.8)
                else:
                    ax.axhline(FANOUT_P99_MS, color="gray", linewidth=0.8)
            else:
                ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
            ax.set_title(f"S = {subscribers:,}")
            ax.set_xlabel("events/s per stream (R, log)")
            ax.grid(True, alpha=0.3)
        axes[0][0].set_ylabel(ylabel)
        if axes[0][0].get_legend_handles_labels()[0]:
            axes[0][0].legend(fontsize="small")
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(os.path.join(plots_dir, name), dpi=100)
        plt.close(fig)


# ---------------------------------------------------------------- plots
def _short(v):
    """Compact bar label: 376599 -> '377k', 1.15 -> '1.15'."""
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


def _finish(fig, ax, path, title, xlabel, ylabel, has_data):
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if has_data:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.grid(True, axis="y", alpha=0.3)
        if ax.get_yscale() == "linear":
            ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.6g}"))
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, fontsize=16)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_bars(path, title, xlabel, ylabel, groups, series, value):
    """Grouped bars: value(group, series) -> (median, min, max) or None; error bars show min–max.
    With a single series the bars take the group's (system's) colour and need no legend."""
    fig, ax = plt.subplots(figsize=(9, 5))
    width, has_data, labelled = 0.8 / max(len(series), 1), False, set()
    for i, s in enumerate(series):
        for j, g in enumerate(groups):
            sp, x = value(g, s), j + (i - (len(series) - 1) / 2) * width
            if sp is None:
                ax.annotate("no data", (x, 0), ha="center", va="bottom", fontsize=8, color="gray")
                continue
            single = len(series) == 1
            ax.bar(x, sp[0], width, yerr=[[sp[0] - sp[1]], [sp[2] - sp[0]]], capsize=3,
                   color=COLORS.get(g if single else s, f"C{i}"),
                   label=None if single or s in labelled else s)
            labelled.add(s)
            ax.annotate(_short(sp[0]), (x, sp[2]), xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", fontsize=8)
            has_data = True
    ax.set_xticks(range(len(groups)), [str(g) for g in groups])
    ax.set_xlim(-0.5, len(groups) - 0.5)
    _finish(fig, ax, path, title, xlabel, ylabel, has_data)


def plot_lines(path, title, ylabel, lines, logy=False):
    """lines: [(label, color, linestyle, [(x, y), ...])]; log-scale stream count on x."""
    fig, ax = plt.subplots(figsize=(9, 5))
    has_data = False
    for label, color, style, pts in lines:
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, style, color=color, marker="o", label=label)
            has_data = True
    if has_data:
        ax.set_xscale("log")
        xs = sorted({x for *_, pts in lines for x, _ in pts})
        ax.set_xticks(xs, [f"{x:,}" for x in xs])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        if logy:
            ax.set_yscale("log")
    _finish(fig, ax, path, title, "concurrent streams (log)", ylabel, has_data)


def make_plots(cells, systems, plots_dir):
    os.makedirs(plots_dir, exist_ok=True)
    p = lambda name: os.path.join(plots_dir, name)  # noqa: E731
    tp = {row_name("throughput", r): r for r in rows_of(cells, "throughput")}
    plot_bars(p("throughput.png"), "One stream, as fast as possible (median, min–max)", "payload",
              "events/s", list(tp), systems,
              lambda g, s: cell(cells, "throughput", tp[g], s).spread(field("events_per_s")))
    counts = [r for r in rows_of(cells, "streams") if isinstance(r, int)]

    def series(fn, s):
        return [(n, v) for n in counts for v in [cell(cells, "streams", n, s).med(fn)] if v is not None]
    lat = [(f"{s} {q}", COLORS.get(s), style, series(field("latency_us", q, scale=1e-3), s))
           for s in systems for q, style in (("p50", "-"), ("p99", "--"))]
    plot_lines(p("latency_vs_streams.png"), "Event latency vs streams at 1 event/s (median of runs)",
               "latency ms (log)", lat, logy=True)
    plot_lines(p("rss_per_stream.png"), "Memory per stream (RSS growth / connected)", "KiB per stream",
               [(s, COLORS.get(s), "-", series(rss_per_stream, s)) for s in systems])
    plot_lines(p("cpu_vs_streams.png"), "CPU of the system under test at 1 event/s per stream",
               "CPU % of one core", [(s, COLORS.get(s), "-", series(cpu_pct, s)) for s in systems])
    ttfe_row = rows_of(cells, "ttfe")[0]
    plot_bars(p("ttfe.png"), f"Time to first event ({ttfe_row})", "system", "ms", systems,
              ["p50", "p99"], lambda g, s: cell(cells, "ttfe", ttfe_row, g)
              .spread(field("ttfe_us", s, scale=1e-3)))
    churn_row = rows_of(cells, "churn")[0]
    plot_bars(p("churn.png"), f"Churn: connect/close cycles per second ({churn_row})", "system",
              "cycles/s", systems, ["cycles/s"],
              lambda g, s: cell(cells, "churn", churn_row, g).spread(field("cycles_per_s")))
    plot_fanout(cells, plots_dir)
    plot_multiplex(cells, plots_dir)


# ---------------------------------------------------------------- document
def header(args, machine, records, problems):
    m = machine if isinstance(machine, dict) else {}
    date = m.get("date") or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    # Runs of the most measured cell (several --results files may pool runs of one cell).
    per_cell = {}
    for r in records:
        key = (r.get("scenario"), r.get("system"), json.dumps(r.get("params"), sort_keys=True))
        per_cell[key] = per_cell.get(key, 0) + 1
    runs = max(per_cell.values(), default=0)
    mach = ", ".join(x for x in [m.get("cpu"), f"{m['cores']} cores" if m.get("cores") else None,
                                 f"{m['mem_gib']} GiB RAM" if m.get("mem_gib") else None, m.get("os"),
                                 f"kernel {m['kernel']}" if m.get("kernel") else None] if x) or "not recorded"
    vers = m.get("versions") if isinstance(m.get("versions"), dict) else {}
    versions = ", ".join(f"{k} {v}" for k, v in vers.items()) or "not recorded"
    out = ["# sse-gateway benchmarks", "",
           "sse-gateway (gRPC server-streaming → Server-Sent Events) compared with a direct gRPC client "
           "(`direct`, the ceiling), a Node.js peer bridge (`node`) and grpc-gateway (`grpc-gateway`), and "
           "in the fan-out scenario with nginx + nchan (`nchan`), all streaming `bench.v1.Firehose/Stream` "
           "from the same backend; the multiplex scenario measures the gateway's multiplex endpoint against "
           "its own plain route, and the HTTP/2 scenario the gateway over h2c against itself over HTTP/1.1.",
           "",
           f"- **Machine:** {mach}", f"- **Versions:** {versions}", f"- **Date:** {date}",
           f"- **Command:** `{args.command}`",
           f"- **Method:** up to {runs} run(s) per cell, systems interleaved run by run; every figure is the "
           "**median** over the runs of one (scenario, system, parameters) cell, n = runs that succeeded "
           "(ok/total when some failed), headline numbers show min–max in parentheses.",
           "- **Caveat:** load generator, backend and system under test all share one 2-core machine, so "
           "every number includes contention with the load generator."]
    out += [f"- **Input problem:** {p}" for p in problems]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", required=True, action="append",
                    help="a results JSONL file; repeat to merge several")
    ap.add_argument("--out-md", required=True)
    ap.add_argument("--plots-dir", required=True)
    ap.add_argument("--command", default="bash bench/run.sh")
    ap.add_argument("--machine-json")
    ap.add_argument("--notes", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    "NOTES.md"),
                    help="Markdown appended as is (profile and design notes), if the file exists")
    args = ap.parse_args()
    records, problems = load_results(args.results)
    machine = None
    if args.machine_json:
        try:
            with open(args.machine_json) as f:
                machine = json.load(f)
        except (OSError, ValueError) as e:
            problems.append(f"machine JSON unreadable: {e}")
    cells, systems, plabels = group(records)
    rel = os.path.relpath(os.path.abspath(args.plots_dir), os.path.dirname(os.path.abspath(args.out_md)))
    plot = lambda name: f"{rel}/{name}".replace(os.sep, "/")  # noqa: E731
    targets = []
    sections = [f(cells, systems, plabels, targets, plot)
                for f in (section_throughput, section_streams, section_ttfe, section_churn, section_ramp,
                          section_slowheads, section_fanout, section_multiplex, section_h2)]
    summary = ("## Targets\n\n" + table(["Target", "Measured (median)", "Result"], targets) + "\n")
    notes = ""
    if args.notes and os.path.exists(args.notes):
        with open(args.notes) as f:
            notes = f.read()
    doc = "\n".join([header(args, machine, records, problems), summary, *sections, notes])
    make_plots(cells, systems, args.plots_dir)
    os.makedirs(os.path.dirname(os.path.abspath(args.out_md)), exist_ok=True)
    with open(args.out_md, "w") as f:
        f.write(doc)


if __name__ == "__main__":
    main()
