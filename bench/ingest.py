#!/usr/bin/env python3
"""Ingest benchmark: N simulated devices upload concurrently to a real collector over loopback.

The real ``jobshadow server start`` runs as its own processes (a uvicorn supervisor and its
worker processes, ``--workers``, by default one per core as the server chooses; SQLite control
plane, Iceberg landing table, all under a temporary ``JOBSHADOW_HOME``). Simulated devices are
real ones (see ``bench/ingest_device.py``): each has its own home, its own Ed25519 identity
enrolled over HTTP with a one-time code, its own spool key, its own ``Uploader`` with its own
keep-alive HTTP connection, and every request is freshly signed. Devices run as threads inside
``--procs`` spawned worker processes (200 Python processes would not fit on two cores); each
device delivers its own segments one after another, all devices at the same time.

Setup, untimed and reported separately: admin steps on the server's database (enrolment codes, a
scope with a privacy review by a second person, activation), enrolment, writing the spool
segments (a minute of recording each: 120 frames of random bytes, so incompressible like
H.264, plus pointer and key events, a chunk flush every 0.5 s) and ``Uploader.prepare``
(decrypt, hash, re-seal to the landing key). Timed: ``Uploader.deliver`` of every prepared
segment (as the uploader does: a segment up to ``--chunk-mb`` in one signed PUT, a larger one as
begin, signed chunk PUTs, complete; the server verifies the signature of every
request, stages, decrypts and checks the MCAP, stores the blob and commits the Iceberg row
before it answers "landed").

Scenarios, all against the same server:

* fleet: ``--devices`` (200) x ``--segments-per-device`` (2) x ``--segment-mb`` (2 MB, the top of
  the realistic 0.5-2 MB per minute);
* large: ``--large-devices`` (32) x ``--large-segments-per-device`` (2) x ``--large-segment-mb``
  (16 MB; the recorder rotates at 64 MB), for bytes per second with less per-segment overhead;
* polls: ``--poll-devices`` (10,000) signed ``GET /v1/device/config?wait=0`` polls (each with
  its own signature and nonce; a device that knows its ETag gets 304), round-robin over
  ``--poll-identities`` (200) enrolled devices, from ``--poll-procs`` x ``--poll-threads``;
* long polls (optional, ``--long-polls N``): N connections each hold one ``wait=--long-poll-wait``
  poll at the same moment, as a fleet of idle devices does; counts the ones refused.

A warm-up segment is delivered before anything is timed (the first landing commit after a
server start imports the Iceberg stack); its latency is printed.

Measured: MB/s (payload bytes as sent, 1 MB = 10^6 bytes) and segments/s over the wall time from
the start signal to the last "landed" answer; per-segment latency (begin to landed); server CPU
(/proc utime+stime; 100% = one core; mean over the phase, max over 1 s) and max RSS; CPU of the
load generators and of the whole machine; errors (every transient failure, retried as the
uploader does, and every rejection). Afterwards: ``lost`` = prepared segments missing from the
Iceberg landing table, ``duplicated`` = extra table rows for one content hash, and leftover
files in the devices' spool, outbox and quarantine (acknowledged copies must be deleted).

    python bench/ingest.py [--quick] [--devices 200] [--segments-per-device 2] [--segment-mb 2]
                           [--large-devices 32] [--large-segments-per-device 2] [--large-segment-mb 16]
                           [--chunk-mb 4] [--workers 0] [--procs 8] [--poll-devices 10000] [--poll-identities 200]
                           [--long-polls 0] [--json] [--keep DIR]

Targets (two cores): >= 100 MB/s (judged on the fleet; the large scenario has its own verdict);
200 concurrent devices with zero errors, zero loss and no duplicates; control-plane polls for
10,000 devices per minute (>= 167 polls/s) with zero errors. ``--json`` prints one object: the
fleet's numbers at the top level (``errors``, ``lost``, ``duplicated`` summed over all uploads),
``large``, ``polls``, ``long_polls``, ``server``, ``verdicts`` and ``pass``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing as mp
import os
import queue
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from ingest_device import Device, long_poll_worker, make_segment, poll_worker, upload_worker

TARGET_MB_S = 100.0
TARGET_DEVICES = 200
TARGET_POLLS_PER_MIN = 10_000
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(home: Path, overrides: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBSHADOW_")}
    env["JOBSHADOW_HOME"] = str(home)
    env.update(overrides)
    return env


class Server:
    """``python -m jobshadow server start`` in its own process; its log goes to a file."""

    def __init__(self, home: Path, overrides: dict[str, str], workers: int = 0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home.parent / "server.log"
        self._log = self.log_path.open("wb")
        # The collector alone, as measured before: the governance door is a process of its own.
        extra = ["--no-door"] + (["--workers", str(workers)] if workers > 0 else [])
        self.proc = subprocess.Popen([sys.executable, "-m", "jobshadow", "server", "start", "--port", str(self.port),
                                      *extra],
                                     env=server_env(home, overrides), stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not answer /healthz within 60 s:\n{self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self, n: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


class Sampler(threading.Thread):
    """Samples the server's CPU seconds and RSS (supervisor and workers summed) and the machine's CPU, every second.

    A worker that exits during a phase takes its CPU seconds with it; the collector's workers live
    as long as the server.
    """

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, float, float, float, float, float]] = []  # t, cpu_s, rss, busy, total, irq
        self.stop_flag = threading.Event()

    def tree(self) -> list[int]:
        """The server's supervisor and its worker processes (and theirs)."""
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                    parents[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
        tree, grew = {self.pid}, True
        while grew:
            more = {p for p, pp in parents.items() if pp in tree} - tree
            tree |= more
            grew = bool(more)
        return sorted(tree)

    def sample(self) -> None:
        cpu = rss = 0.0
        try:
            for pid in self.tree():
                try:
                    stat = Path(f"/proc/{pid}/stat").read_text()
                    fields = stat[stat.rindex(")") + 2:].split()
                    cpu += (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            rss += int(line.split()[1]) / 1024
                except (OSError, ValueError, IndexError):
                    continue  # a process that just ended
            ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        except (OSError, ValueError, IndexError):
            return
        idle = ticks[3] + ticks[4]  # idle + iowait
        total = sum(ticks[:8])
        irq = ticks[5] + ticks[6]  # loopback TCP work runs as softirq, charged to no process
        self.samples.append((time.monotonic(), cpu, rss, (total - idle) / CLK_TCK, total / CLK_TCK, irq / CLK_TCK))

    def run(self) -> None:
        self.sample()
        while not self.stop_flag.wait(self.interval):
            self.sample()

    def finish(self) -> dict[str, Any]:
        self.stop_flag.set()
        self.join()
        self.sample()
        s = self.samples
        if len(s) < 2:
            return {"sampled_s": 0.0, "server_cpu_mean_pct": None, "server_cpu_max_pct": None,
                    "server_rss_max_mb": None, "machine_cpu_pct": None, "irq_cpu_pct": None}
        span = s[-1][0] - s[0][0]
        steps = [100 * (b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.pairwise(s) if b[0] - a[0] > 0.5]
        cores = os.cpu_count() or 1
        return {"sampled_s": round(span, 2), "server_cpu_mean_pct": round(100 * (s[-1][1] - s[0][1]) / span, 1),
                "server_cpu_max_pct": round(max(steps), 1) if steps else None,
                "server_rss_max_mb": round(max(x[2] for x in s), 1),
                "machine_cpu_pct": round(100 * cores * (s[-1][3] - s[0][3]) / (s[-1][4] - s[0][4]), 1),
                "irq_cpu_pct": round(100 * cores * (s[-1][5] - s[0][5]) / (s[-1][4] - s[0][4]), 1)}


def admin_setup(settings: Any, emails: list[str]) -> list[str]:
    """Enrolment codes, and an approved, active scope: what an admin does before devices upload."""
    from jobshadow.govern import open_programme

    with open_programme(settings) as svc:
        codes = [svc.create_enroll_code(e, by="person:bench-admin@example.org")[0] for e in emails]
        svc.create_scope("bench", {"apps": ["xterm", "xedit"], "purposes": ["model_training"]},
                         by="person:bench-lead@example.org")
        rid = svc.submit_review("bench", by="person:bench-lead@example.org")
        svc.decide_review(rid, True, "person:bench-dpo@example.org")
        svc.activate_scope("bench", by="person:bench-lead@example.org")
    return codes


def run_workers(target: Any, specs: list[dict[str, Any]], server: Server,
                timeout: float = 900) -> tuple[list[dict[str, Any]], list[dict[str, Any]], float, dict[str, Any]]:
    """Start the workers, wait until all are set up, time the phase; returns (ready, results, t_go, sampler)."""
    ctx = mp.get_context("spawn")
    ready_q, results_q, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=target, args=(spec, ready_q, go, results_q), daemon=True) for spec in specs]
    for p in procs:
        p.start()
    try:
        ready = collect(ready_q, procs, len(specs), timeout, "set up")
        bad = [r for r in ready if not r["ok"]]
        if bad:
            raise SystemExit(f"a worker failed during setup:\n{bad[0]['error']}\nserver log:\n{server.log_tail()}")
        sampler = Sampler(server.proc.pid)
        sampler.start()
        t_go = time.monotonic()
        go.set()
        results = collect(results_q, procs, len(specs), timeout, "finish")
        usage = sampler.finish()
        for p in procs:
            p.join(30)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
    return ready, results, t_go, usage


def collect(q: Any, procs: list[Any], n: int, timeout: float, what: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        try:
            out.append(q.get(timeout=1.0))
        except queue.Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise SystemExit(f"a worker process died (exit {dead[0].exitcode}) before it could {what}") from None
            if time.monotonic() > deadline:
                raise SystemExit(f"workers did not {what} within {timeout:.0f} s") from None
    return out


def split(items: list[Any], parts: int) -> list[list[Any]]:
    parts = max(1, min(parts, len(items)))
    return [items[i::parts] for i in range(parts)]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q * (len(v) - 1))))]


def peak_concurrency(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals], key=lambda e: (e[0], e[1]))
    peak = cur = 0
    for _, d in edges:
        cur += d
        peak = max(peak, cur)
    return peak


def client_cpu(usage: dict[str, Any], cpu_s: float) -> dict[str, Any]:
    """The load generators' CPU over the sampled window, and what the machine spent outside them and
    the server (another job on the machine skews the numbers; softirq is loopback TCP)."""
    if not usage["sampled_s"] or usage["machine_cpu_pct"] is None or usage["server_cpu_mean_pct"] is None:
        return {"client_cpu_pct": None, "other_cpu_pct": None}
    client = 100 * cpu_s / usage["sampled_s"]
    other = usage["machine_cpu_pct"] - usage["irq_cpu_pct"] - usage["server_cpu_mean_pct"] - client
    return {"client_cpu_pct": round(client, 1), "other_cpu_pct": round(max(0.0, other), 1)}


def upload_scenario(name: str, server: Server, devices: list[tuple[Path, str]], segments: int, segment_mb: float,
                    chunk_bytes: int, procs: int) -> dict[str, Any]:
    groups = split(devices, procs)
    specs = [{"worker": n, "seed": n, "server_url": server.url, "devices": [(str(r), c) for r, c in g],
              "segments_per_device": segments, "segment_bytes": int(segment_mb * 1e6), "chunk_bytes": chunk_bytes}
             for n, g in enumerate(groups)]
    t_setup = time.monotonic()
    ready, results, t_go, usage = run_workers(upload_worker, specs, server)
    setup_s = t_go - t_setup
    prepared = [p for r in ready for p in r["prepared"]]
    segs = [s for r in results for s in r["segments"]]
    t_end = max((s[1] for s in segs), default=t_go)
    wall = max(t_end - t_go, 1e-9)
    landed_bytes = sum(s[2] for s in segs)
    latencies = [(b - a) * 1000 for a, b, _, _ in segs]
    errors = [e for r in results for e in r["errors"]]
    leftovers: Counter[str] = Counter()
    for r in results:
        leftovers.update(r["leftovers"])
    return {
        "scenario": name, "devices": len(devices), "processes": len(groups),
        "devices_per_process": max(len(g) for g in groups), "segments_per_device": segments,
        "segment_mb_target": segment_mb, "chunk_bytes": chunk_bytes,
        "segments": len(prepared), "segments_acked": len(segs),
        "mean_segment_mb": round(statistics.mean(p["size"] for p in prepared) / 1e6, 2) if prepared else 0,
        "payload_mb": round(landed_bytes / 1e6, 1),
        "setup_s": round(setup_s, 1),
        "enrol_s_max": round(max(r["enrol_s"] for r in ready), 1),
        "generate_s_max": round(max(r["gen_s"] for r in ready), 1),
        "prepare_s_max": round(max(r["prep_s"] for r in ready), 1),
        "wall_s": round(wall, 2),
        "mb_per_s": round(landed_bytes / 1e6 / wall, 1),
        "segments_per_s": round(len(segs) / wall, 1),
        "p50_ms": round(pct(latencies, 0.50) or 0, 1),
        "p99_ms": round(pct(latencies, 0.99) or 0, 1),
        "max_ms": round(max(latencies, default=0), 1),
        "peak_concurrent_uploads": peak_concurrency([(a, b) for a, b, _, _ in segs]),
        "errors": len(errors),
        "error_kinds": dict(Counter(errors).most_common(5)),
        "failed": sum(len(r["failed"]) for r in results),
        "leftover_files": sum(leftovers.values()),
        "leftovers": dict(leftovers),
        **usage,
        **client_cpu(usage, sum(r["cpu_s"] for r in results)),
        "_prepared": [p["content_hash"] for p in prepared],
        "_acked": [s[3] for s in segs],
    }


def poll_scenario(server: Server, devices: list[tuple[Path, str]], polls: int, procs: int,
                  threads: int) -> dict[str, Any]:
    groups = split(devices, procs)
    specs = [{"worker": n, "server_url": server.url, "devices": [(str(r), c) for r, c in g],
              "threads": threads, "polls": polls // len(groups) + (1 if n < polls % len(groups) else 0),
              "max_seconds": 300} for n, g in enumerate(groups)]
    _, results, t_go, usage = run_workers(poll_worker, specs, server)
    lat = [x * 1000 for r in results for x in r["latencies"]]
    errors = [e for r in results for e in r["errors"]]
    wall = max(max(r["t1"] for r in results) - t_go, 1e-9)
    return {
        "identities": len(devices), "processes": len(groups),
        "threads": sum(min(threads, len(g)) for g in groups),
        "polls": len(lat), "wall_s": round(wall, 2),
        "polls_per_s": round(len(lat) / wall, 1),
        "polls_per_min": round(60 * len(lat) / wall),
        "p50_ms": round(pct(lat, 0.50) or 0, 1), "p99_ms": round(pct(lat, 0.99) or 0, 1),
        "errors": len(errors), "error_kinds": dict(Counter(errors).most_common(5)),
        **usage,
        **client_cpu(usage, sum(r["cpu_s"] for r in results)),
    }


def long_poll_scenario(server: Server, devices: list[tuple[Path, str]], conns: int, wait: float,
                       procs: int) -> dict[str, Any]:
    """``conns`` devices each holding a long poll at the same moment (what a fleet of idle devices does)."""
    procs = max(1, min(procs, conns))
    specs = [{"worker": n, "devices": [(str(r), c) for r, c in devices], "wait": wait,
              "conns": conns // procs + (1 if n < conns % procs else 0)} for n in range(procs)]
    _, results, _, usage = run_workers(long_poll_worker, specs, server)
    outcomes: Counter[str] = Counter()
    for r in results:
        outcomes.update(r["outcomes"])
    lat = [x * 1000 for r in results for x in r["latencies"]]
    return {"connections": conns, "wait_s": wait, "held": outcomes.get("304 held", 0),
            "changed": outcomes.get("200 changed", 0),
            "errors": sum(n for k, n in outcomes.items() if k not in ("304 held", "200 changed")),
            "outcomes": dict(outcomes.most_common(5)), "p50_ms": round(pct(lat, 0.5) or 0, 1),
            "max_ms": round(max(lat, default=0), 1), **usage}


def check_landing(settings: Any, scenarios: list[dict[str, Any]]) -> dict[str, Any]:
    """Compare what the devices prepared and were told landed with the server's landing table."""
    from jobshadow.ingest.service import CollectorService

    svc = CollectorService(settings)
    try:
        rows = svc.landed_rows()
        counts = svc.counts()
        commits = len(svc.landing.refresh().snapshots())
    finally:
        svc.close()
    in_table = Counter(r["content_hash"] for r in rows)
    for sc in scenarios:
        prepared = set(sc.pop("_prepared"))
        acked = set(sc.pop("_acked"))
        sc["lost"] = len(prepared - set(in_table))
        sc["acked_not_in_table"] = len(acked - set(in_table))
        sc["duplicated"] = sum(in_table[h] - 1 for h in prepared if in_table[h] > 1)
    staging = list((settings.home / "server" / "staging").glob("*"))
    return {"table_rows": len(rows), "iceberg_commits": commits, "open_uploads": counts["open_uploads"],
            "staging_files": len(staging)}


def warm_up(server: Server, root: Path, code: str, chunk_bytes: int) -> float:
    """Deliver one small segment before anything is timed; returns its latency in ms.

    The server imports the Iceberg stack on its first landing commit (about a second with the GIL
    held); a running collector has paid that long ago, so the timed phases start after it.
    """
    dev = Device(root, server.url, code, chunk_bytes)
    make_segment(dev.home, dev.key, "0a0b0c", 1, 100_000, random.Random(0))
    item = dev.uploader.prepare(dev.uploader.eligible()[0])
    t = time.monotonic()
    dev.uploader.deliver(item)
    dev.uploader.client.close()
    return (time.monotonic() - t) * 1000


def read_server_log(path: Path) -> dict[str, Any]:
    """Error responses and error lines in the server's structured log, and whether it shut down cleanly."""
    statuses: Counter[str] = Counter()
    error_lines = 0
    clean = False
    workers = None
    for line in path.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("event") == "listening" and workers is None:
            workers = rec.get("workers")
        if rec.get("level") in ("ERROR", "CRITICAL"):
            error_lines += 1
        if isinstance(rec.get("status"), int) and rec["status"] >= 400:
            statuses[f"{rec['status']} {rec.get('route')}"] += 1
        if str(rec.get("message", "")).startswith("Finished server process"):
            clean = True
    return {"error_responses": sum(statuses.values()), "error_response_kinds": dict(statuses.most_common(5)),
            "error_log_lines": error_lines, "clean_shutdown": clean, "workers": workers}


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from jobshadow.config import load_settings

    server_home = work / "server-home"
    overrides = {}
    if args.chunk_mb * 2**20 > 4 * 2**20:
        overrides["JOBSHADOW_SERVER__MAX_CHUNK_BYTES"] = str(int(args.chunk_mb * 2**20))
    settings = load_settings(environ=server_env(server_home, overrides))
    fleet = [work / "devices" / f"d{n:04d}" for n in range(args.devices)]
    large = [work / "devices" / f"L{n:04d}" for n in range(args.large_devices if args.large_segment_mb > 0 else 0)]
    extra = [work / "devices" / f"p{n:04d}" for n in range(max(0, args.poll_identities - args.devices))]
    warm = work / "devices" / "warmup"
    homes = [warm, *fleet, *large, *extra]
    t = time.monotonic()
    codes = admin_setup(settings, [f"{h.name}@bench.example.org" for h in homes])
    admin_s = time.monotonic() - t
    code_of = dict(zip(homes, codes, strict=True))
    server = Server(server_home, overrides, args.workers)
    chunk = int(args.chunk_mb * 2**20)
    scenarios = []
    try:
        warm_ms = warm_up(server, warm, code_of[warm], chunk)
        log(args, f"fleet: {len(fleet)} devices x {args.segments_per_device} x {args.segment_mb} MB")
        scenarios.append(upload_scenario("fleet", server, [(h, code_of[h]) for h in fleet], args.segments_per_device,
                                         args.segment_mb, chunk, args.procs))
        if large:
            log(args, f"large: {len(large)} devices x {args.large_segments_per_device} x {args.large_segment_mb} MB")
            scenarios.append(upload_scenario("large", server, [(h, code_of[h]) for h in large],
                                             args.large_segments_per_device, args.large_segment_mb, chunk,
                                             min(args.procs, len(large))))
        poll_homes = (fleet + extra)[:args.poll_identities]
        log(args, f"polls: {args.poll_devices} polls over {len(poll_homes)} identities")
        polls = poll_scenario(server, [(h, code_of[h]) for h in poll_homes], args.poll_devices, args.poll_procs,
                              args.poll_threads)
        long_polls = None
        if args.long_polls > 0:
            log(args, f"long polls: {args.long_polls} held at once for {args.long_poll_wait:.0f} s")
            long_polls = long_poll_scenario(server, [(h, code_of[h]) for h in poll_homes], args.long_polls,
                                            args.long_poll_wait, args.poll_procs)
    finally:
        rc = server.stop()
    server_check = check_landing(settings, scenarios)
    server_check.update(read_server_log(server.log_path), exit_code=rc, warmup_upload_ms=round(warm_ms, 1))
    return {"scenarios": scenarios, "polls": polls, "long_polls": long_polls, "server": server_check,
            "admin_setup_s": round(admin_s, 1), "cores": os.cpu_count()}


def log(args: argparse.Namespace, msg: str) -> None:
    if not args.json:
        print(f"... {msg}", file=sys.stderr, flush=True)


def clean(s: dict[str, Any]) -> bool:
    return bool(s["errors"] == 0 and s["failed"] == 0 and s["lost"] == 0 and s["duplicated"] == 0
                and s["acked_not_in_table"] == 0 and s["leftover_files"] == 0)


def verdicts(r: dict[str, Any]) -> dict[str, bool]:
    """The targets, one by one; ``mb_per_s`` is judged on the 200-device fleet, ``large_mb_per_s`` apart."""
    fleet, p, srv = r["scenarios"][0], r["polls"], r["server"]
    out = {
        "mb_per_s": fleet["mb_per_s"] >= TARGET_MB_S,
        "devices": fleet["devices"] >= TARGET_DEVICES and fleet["peak_concurrent_uploads"] >= TARGET_DEVICES,
        "no_errors_no_loss": all(clean(s) for s in r["scenarios"]) and srv["open_uploads"] == 0
        and srv["staging_files"] == 0,
        "polls_per_min": p["polls_per_min"] >= TARGET_POLLS_PER_MIN and p["errors"] == 0,
    }
    if len(r["scenarios"]) > 1:
        out["large_mb_per_s"] = r["scenarios"][1]["mb_per_s"] >= TARGET_MB_S
    return out


def word(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def table(r: dict[str, Any]) -> str:
    v = verdicts(r)
    sc, p, srv = r["scenarios"], r["polls"], r["server"]
    lines = [f"ingest benchmark: real collector ({srv['workers']} worker processes) on loopback, {r['cores']} cores; "
             "1 MB = 10^6 bytes", ""]
    for s in sc:
        lines.append(f"{s['scenario']}: {s['devices']} devices = {s['processes']} processes x <= "
                     f"{s['devices_per_process']} device threads; {s['segments_per_device']} segment(s) per device "
                     f"of {s['mean_segment_mb']} MB sealed; {s['chunk_bytes'] // 1024} KiB chunks")
        lines.append(f"    untimed setup {s['setup_s']} s (slowest worker: enrol {s['enrol_s_max']} s, write segments "
                     f"{s['generate_s_max']} s, prepare {s['prepare_s_max']} s)")
    lines.append(f"polls: {p['polls']} signed polls round-robin over {p['identities']} enrolled devices, "
                 f"{p['processes']} processes x {p['threads'] // max(1, p['processes'])} threads")
    lines.append(f"warm-up: first upload after server start {srv['warmup_upload_ms']:.0f} ms (not timed)")
    lines.append("")

    def row(name: str, values: list[Any], target: str = "", verdict: str = "") -> str:
        cells = "".join(f"{'' if x is None else x!s:>13}" for x in values)
        return f"{name:<32}{cells}   {target:<26}{verdict}"

    names = [s["scenario"] for s in sc]
    lines.append(row("uploads", names, "target"))
    lines.append(row("devices / peak uploads in flight", [f"{s['devices']}/{s['peak_concurrent_uploads']}"
                                                          for s in sc],
                     f">= {TARGET_DEVICES} at once (fleet)", word(v["devices"])))
    lines.append(row("segments acked / prepared", [f"{s['segments_acked']}/{s['segments']}" for s in sc]))
    lines.append(row("payload MB / wall s", [f"{s['payload_mb']:.0f}/{s['wall_s']:.1f}" for s in sc]))
    mb_verdict = ", ".join(f"{s['scenario']} {word(s['mb_per_s'] >= TARGET_MB_S)}" for s in sc)
    lines.append(row("MB/s", [s["mb_per_s"] for s in sc], f">= {TARGET_MB_S:.0f}", mb_verdict))
    lines.append(row("segments/s", [s["segments_per_s"] for s in sc]))
    lines.append(row("latency p50 / p99 ms", [f"{s['p50_ms']:.0f}/{s['p99_ms']:.0f}" for s in sc]))
    lines.append(row("errors", [s["errors"] for s in sc], "0"))
    lines.append(row("lost / duplicated", [f"{s['lost']}/{s['duplicated']}" for s in sc], "0 / 0"))
    lines.append(row("acked but not in table", [s["acked_not_in_table"] for s in sc], "0"))
    lines.append(row("leftover device files", [s["leftover_files"] for s in sc], "0"))
    lines.append(row("  (all of the above)", [word(clean(s)) for s in sc], "", word(v["no_errors_no_loss"])))
    lines.append(row("server CPU % mean / max", [f"{s['server_cpu_mean_pct']}/{s['server_cpu_max_pct']}"
                                                for s in sc], "100% = one core"))
    lines.append(row("server RSS max MB", [s["server_rss_max_mb"] for s in sc]))
    lines.append(row("load generators CPU %", [s["client_cpu_pct"] for s in sc]))
    lines.append(row("machine CPU % (all cores)", [s["machine_cpu_pct"] for s in sc],
                     f"of {100 * (r['cores'] or 1)}"))
    lines.append(row("  softirq / other processes %", [f"{s['irq_cpu_pct']}/{s['other_cpu_pct']}" for s in sc]))
    lines.append("")
    lines.append(row("control-plane polls", ["polls"], "target"))
    lines.append(row("polls/s", [p["polls_per_s"]]))
    lines.append(row("device polls per minute", [p["polls_per_min"]], f">= {TARGET_POLLS_PER_MIN}, 0 errors",
                     word(v["polls_per_min"])))
    lines.append(row("errors", [p["errors"]], "0"))
    lines.append(row("latency p50 / p99 ms", [f"{p['p50_ms']:.1f}/{p['p99_ms']:.1f}"]))
    lines.append(row("server CPU % mean / max", [f"{p['server_cpu_mean_pct']}/{p['server_cpu_max_pct']}"]))
    lines.append(row("server RSS max MB", [p["server_rss_max_mb"]]))
    lines.append(row("load generators CPU %", [p["client_cpu_pct"]]))
    lines.append(row("machine CPU % (all cores)", [p["machine_cpu_pct"]]))
    lines.append(row("  softirq / other processes %", [f"{p['irq_cpu_pct']}/{p['other_cpu_pct']}"]))
    lines.append("")
    lp = r.get("long_polls")
    if lp:
        lines.append(row("long polls held at once", ["long polls"], "(no target in the issue)"))
        lines.append(row("connections / wait s", [f"{lp['connections']}/{lp['wait_s']:.0f}"]))
        lines.append(row("held (304) / changed (200)", [f"{lp['held']}/{lp['changed']}"]))
        lines.append(row("refused or failed", [lp["errors"]], "0", word(lp["errors"] == 0)))
        lines.append(row("latency p50 / max ms", [f"{lp['p50_ms']:.0f}/{lp['max_ms']:.0f}"]))
        lines.append(row("server RSS max MB", [lp["server_rss_max_mb"]]))
        if lp["errors"]:
            lines.append(f"long-poll outcomes: {lp['outcomes']}")
        lines.append("")
    lines.append(f"server: landing table rows {srv['table_rows']} (incl. 1 warm-up) in {srv['iceberg_commits']} "
                 f"Iceberg commits, open uploads "
                 f"{srv['open_uploads']}, staging files {srv['staging_files']}, error responses "
                 f"{srv['error_responses']}, ERROR log lines {srv['error_log_lines']}, clean shutdown "
                 f"{'yes' if srv['clean_shutdown'] else 'NO'}")
    if srv["error_response_kinds"]:
        lines.append(f"server error responses: {srv['error_response_kinds']}")
    for s in sc:
        if s["error_kinds"]:
            lines.append(f"{s['scenario']} errors: {s['error_kinds']}")
    if p["error_kinds"]:
        lines.append(f"poll errors: {p['error_kinds']}")
    busy = max([s["other_cpu_pct"] or 0 for s in sc] + [p["other_cpu_pct"] or 0])
    if busy > 15:
        lines.append(f"note: other processes used up to {busy:.0f}% CPU during a timed phase; numbers are low")
    lines.append("")
    lines.append("overall: " + ("PASS" if all(v.values()) else "FAIL (" + ", ".join(
        k for k, ok in v.items() if not ok) + ")"))
    return "\n".join(lines)


def summary(r: dict[str, Any]) -> dict[str, Any]:
    """The one JSON object: fleet numbers at the top level (errors, lost, duplicated over all uploads)."""
    fleet = r["scenarios"][0]
    v = verdicts(r)
    out = {k: fleet[k] for k in ("devices", "processes", "devices_per_process", "segments", "segments_acked",
                                 "mean_segment_mb", "chunk_bytes", "payload_mb", "wall_s", "mb_per_s",
                                 "segments_per_s", "p50_ms", "p99_ms", "max_ms", "peak_concurrent_uploads",
                                 "leftover_files", "server_cpu_mean_pct", "server_cpu_max_pct", "server_rss_max_mb",
                                 "client_cpu_pct", "machine_cpu_pct", "irq_cpu_pct", "other_cpu_pct", "setup_s",
                                 "enrol_s_max", "generate_s_max", "prepare_s_max")}
    out["errors"] = sum(s["errors"] for s in r["scenarios"])
    out["lost"] = sum(s["lost"] for s in r["scenarios"])
    out["duplicated"] = sum(s["duplicated"] for s in r["scenarios"])
    out["fleet"] = fleet
    out["large"] = r["scenarios"][1] if len(r["scenarios"]) > 1 else None
    out["polls"] = r["polls"]
    out["long_polls"] = r["long_polls"]
    out["server"] = r["server"]
    out["cores"] = r["cores"]
    out["targets"] = {"mb_per_s": TARGET_MB_S, "devices": TARGET_DEVICES, "polls_per_min": TARGET_POLLS_PER_MIN}
    out["verdicts"] = v
    out["pass"] = all(v.values())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=200, help="devices in the fleet scenario (default 200)")
    ap.add_argument("--segments-per-device", type=int, default=2, help="segments each fleet device sends (default 2)")
    ap.add_argument("--segment-mb", type=float, default=2.0, help="fleet segment size in MB (default 2)")
    ap.add_argument("--large-devices", type=int, default=32, help="devices in the large scenario (default 32)")
    ap.add_argument("--large-segment-mb", type=float, default=16.0,
                    help="large segment size in MB; 0 skips the scenario (default 16)")
    ap.add_argument("--large-segments-per-device", type=int, default=2,
                    help="segments each large-scenario device sends (default 2)")
    ap.add_argument("--chunk-mb", type=float, default=4.0, help="upload chunk size in MiB (default 4, as the uploader)")
    ap.add_argument("--workers", type=int, default=0,
                    help="collector worker processes (default 0: the server's default, one per core)")
    ap.add_argument("--procs", type=int, default=8, help="device worker processes (default 8)")
    ap.add_argument("--poll-devices", type=int, default=10_000, help="device polls to issue (default 10000)")
    ap.add_argument("--poll-identities", type=int, default=200, help="enrolled devices the polls rotate over")
    ap.add_argument("--poll-procs", type=int, default=4, help="polling processes (default 4)")
    ap.add_argument("--poll-threads", type=int, default=8, help="polling threads per process (default 8)")
    ap.add_argument("--long-polls", type=int, default=0,
                    help="also hold this many long polls open at once (0: skip; try 2500)")
    ap.add_argument("--long-poll-wait", type=float, default=10.0, help="seconds each long poll waits (default 10)")
    ap.add_argument("--quick", action="store_true", help="a small smoke run (about 20 s)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--keep", type=Path, help="keep the work directory (server home, devices, log) here")
    args = ap.parse_args()
    if args.quick:
        args.devices, args.segments_per_device, args.segment_mb = 20, 2, 1.0
        args.large_devices, args.large_segments_per_device, args.large_segment_mb = 4, 1, 8.0
        args.poll_devices, args.poll_identities, args.procs, args.poll_procs = 1000, 20, 4, 2
    if args.devices < 1 or args.segments_per_device < 1 or args.procs < 1 or args.poll_identities < 1:
        ap.error("--devices, --segments-per-device, --procs and --poll-identities must be at least 1")
    work = Path(tempfile.mkdtemp(prefix="jobshadow-ingest-bench-"))
    try:
        result = run(args, work)
    finally:
        if args.keep is not None:
            shutil.copytree(work, args.keep, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(summary(result)))
    else:
        print(table(result))


if __name__ == "__main__":
    main()
