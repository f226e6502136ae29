#!/usr/bin/env python3
"""Recorder benchmark: a standard office workload on Xvfb at 1920x1080.

Runs the real ``jobshadow record start`` process while a scripted person works in two real X
applications (an xterm taking notes, xedit with a long document): typing bursts, pointer travel,
clicks, scrolling and window switches, plus one burst of about 5,000 input events per second.
The workload counts every event it generates; the recording is then read back through
``segments export`` and compared.

Measured (the recorder process only; Xvfb, the applications and the workload are not counted):
events generated vs captured per kind, frames, dropped frames, CPU (mean, and max over 3 s windows,
100% = one core), memory (PSS mean/max and growth), MB per active hour, stop latency (SIGTERM to
exit, segment finished), and for each click the lag of its "before" frame.

    python bench/recorder.py [--duration 60] [--json] [--keep DIR]

Targets: 100% of events, burst included; CPU mean <= 5%; PSS <= 150 MB without growth;
<= 60 MB per active hour; stop <= 2 s; a frame within 100 ms before every click.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from jobshadow.agent.control import send_command
from jobshadow.errors import ControlError
from jobshadow.testing.workload import XTestDriver
from jobshadow.testing.xdesktop import Desktop

KINDS = ("key_press", "key_release", "mouse_move", "mouse_press", "mouse_release", "scroll")
NOTES = [
    "Meeting notes: review the quarterly roadmap with the team.",
    "Follow up with design about the onboarding flow and the new icons.",
    "Draft the release checklist, then ask QA for the regression plan.",
    "Customer asked about export formats; reply with the CSV and JSON options.",
]


def env_for(home: Path, display: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBSHADOW_")}
    env.update({"JOBSHADOW_HOME": str(home), "DISPLAY": display,
                "JOBSHADOW_CAPTURE__SCOPE__ALLOW_APPS": '["xterm", "xedit"]'})
    for k in ("WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "DBUS_SESSION_BUS_ADDRESS"):
        env.pop(k, None)
    return env


def jobshadow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jobshadow", *args], env=env, capture_output=True, text=True)


class Sampler(threading.Thread):
    """Asks the recorder for its own CPU seconds and PSS every ``interval`` seconds.

    Reading PSS walks the recorder's whole memory map, so sampling is sparse (its cost is
    charged to the recorder)."""

    def __init__(self, sock: Path, interval: float = 3.0) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.interval = interval
        self.samples: list[tuple[float, float, float]] = []  # (monotonic, cpu_s, pss_mb)
        self.stop_flag = threading.Event()

    def run(self) -> None:
        while not self.stop_flag.wait(self.interval):
            try:
                res = send_command(self.sock, "status", timeout=2.0)["status"]["resources"]
            except ControlError:
                continue
            self.samples.append((time.monotonic(), res["cpu_s"], res["pss_mb"]))


def tile(desk: Desktop, left: str, right: str) -> None:
    """Place the two windows side by side so that every pointer position is over one of them."""
    geo = desk.xdotool("getwindowgeometry", "--shell", left)
    fields = dict(line.split("=", 1) for line in geo.split())
    split = int(fields["X"]) + int(fields["WIDTH"]) + 1
    desk.xdotool("windowmove", "--sync", right, str(split), "0")
    desk.xdotool("windowsize", "--sync", right, str(desk.width - split - 2), str(desk.height - 30))


def office_workload(desk: Desktop, drv: XTestDriver, notes_win: str, doc_win: str, duration: float,
                    burst_rate: int) -> dict[str, Any]:
    """Typing, travel, clicks, scrolls and switches for ``duration`` seconds, with one burst midway."""
    w, h = drv.width, drv.height
    left = (40, 120, w // 2 - 40, h - 60)
    right = (w // 2 + 40, 120, w - 40, h - 60)
    start = time.monotonic()
    burst_done = False
    burst_rate_seen = 0.0
    i = 0
    while time.monotonic() - start < duration:
        elapsed = time.monotonic() - start
        if not burst_done and elapsed >= duration / 2:
            desk.activate(notes_win)
            burst_rate_seen = drv.burst(burst_rate, 1.0, left)
            burst_done = True
            continue
        # Notes: click into the terminal, type a sentence.
        drv.travel(left[0] + 200 + 37 * (i % 9), left[1] + 300 + 23 * (i % 11))
        drv.click(1)
        desk.activate(notes_win)
        drv.type(NOTES[i % len(NOTES)] + "\n", cps=12)
        time.sleep(0.8)
        # Document: switch, click, scroll around, type a line.
        drv.travel(right[0] + 150 + 29 * (i % 7), right[1] + 200 + 31 * (i % 13))
        drv.click(1)
        desk.activate(doc_win)
        drv.scroll(4)
        time.sleep(0.3)
        drv.scroll(-2)
        drv.type(f"edit {i}: checked ", cps=10)
        time.sleep(1.2)
        i += 1
    return {"burst_events_per_s": round(burst_rate_seen), "cycles": i}


def run(duration: float, burst: int, keep: Path | None) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="jobshadow-bench-"))
    home = work / "home"
    desk = Desktop(1920, 1080)
    try:
        doc = work / "document.txt"
        doc.write_text("\n".join(f"{n:04d} The quick brown fox jumps over the lazy dog. " * 2 for n in range(3000)))
        notes_win = desk.app(["xterm", "-name", "notes", "-geometry", "158x80+0+0", "-e", "cat"], "notes")
        doc_win = desk.app(["xedit", str(doc)], "xedit")
        tile(desk, notes_win, doc_win)
        env = env_for(home, desk.display)
        assert jobshadow(env, "consent", "give", "--yes").returncode == 0
        drv = XTestDriver(desk.display)
        drv.move(400, 400)
        proc = subprocess.Popen([sys.executable, "-m", "jobshadow", "record", "start"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sock = home / "run" / "control.sock"
        desk.wait_for(lambda: sock.exists(), 30, "the recorder to start")
        time.sleep(0.5)
        sampler = Sampler(sock)
        sampler.start()
        drv.counts.clear()
        info = office_workload(desk, drv, notes_win, doc_win, duration, burst)
        time.sleep(1.0)  # let the last keys leave the hold-back buffer
        sampler.stop_flag.set()
        sampler.join()
        final_status = send_command(sock, "status")["status"]
        info["suppressed"] = final_status["suppressed"]
        info["input_dropped"] = final_status["input_dropped"]
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        stop_s = time.monotonic() - t0
        if proc.returncode != 0:
            raise SystemExit(f"recorder failed: {err.strip()}")
        generated = {k: drv.counts.get(k, 0) for k in KINDS}
        clicks = list(drv.clicks)
        drv.close()
        return measure(env, work, home, generated, clicks, sampler, stop_s, duration, info)
    finally:
        desk.close()
        if keep is not None:
            shutil.copytree(work, keep, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)


def measure(env: dict[str, str], work: Path, home: Path, generated: dict[str, int], clicks: list[float],
            sampler: Sampler, stop_s: float, duration: float, info: dict[str, Any]) -> dict[str, Any]:
    segs = json.loads(jobshadow(env, "segments", "list", "--json").stdout)
    captured = dict.fromkeys(KINDS, 0)
    frames = dropped = 0
    events: list[dict[str, Any]] = []
    frame_times: list[float] = []
    total_bytes = 0
    for n, seg in enumerate(segs):
        total_bytes += seg["bytes"]
        summary = json.loads(jobshadow(env, "segments", "inspect", seg["id"], "--json").stdout)
        for k in KINDS:
            captured[k] += summary["events"][k]
        frames += summary["frames"]
        dropped += summary["dropped_frames"]
        out = work / f"export-{n}"
        res = jobshadow(env, "segments", "export", seg["id"], "--out", str(out))
        if res.returncode != 0:
            raise SystemExit(f"export failed: {res.stderr}")
        events += [json.loads(x) for x in (out / "events.jsonl").read_text().splitlines()]
        frame_times += [json.loads(x)["t"] for x in (out / "frames.jsonl").read_text().splitlines()]
    frame_times.sort()
    lags = []
    for e in events:
        if e["kind"] == "mouse_press":
            before = [t for t in frame_times if t < e["t"]]
            lags.append((e["t"] - before[-1]) * 1000 if before else float("inf"))
    cpu = []
    for (t0, c0, _), (t1, c1, _) in zip(sampler.samples, sampler.samples[1:], strict=False):
        if t1 > t0:
            cpu.append(100.0 * (c1 - c0) / (t1 - t0))
    pss = [p for _, _, p in sampler.samples]
    third = max(1, len(pss) // 3)
    total_cpu_pct = 0.0
    if len(sampler.samples) >= 2:
        (ta, ca, _), (tb, cb, _) = sampler.samples[0], sampler.samples[-1]
        total_cpu_pct = 100.0 * (cb - ca) / (tb - ta)
    return {
        "duration_s": duration,
        "events_generated": generated,
        "events_captured": captured,
        "events_missing": {k: generated[k] - captured[k] for k in KINDS},
        "burst_events_per_s": info["burst_events_per_s"],
        "events_suppressed_out_of_scope": info["suppressed"],
        "input_dropped": info["input_dropped"],
        "frames": frames,
        "dropped_frames": dropped,
        "segments": len(segs),
        "cpu_mean_pct": round(total_cpu_pct, 2),
        "cpu_max_pct": round(max(cpu), 1) if cpu else None,
        "cpu_median_pct": round(statistics.median(cpu), 2) if cpu else None,
        "pss_mean_mb": round(statistics.mean(pss), 1) if pss else None,
        "pss_max_mb": round(max(pss), 1) if pss else None,
        "pss_growth_mb": round(statistics.mean(pss[-third:]) - statistics.mean(pss[:third]), 1) if pss else None,
        "bytes": total_bytes,
        "mb_per_hour": round(total_bytes / 1e6 * 3600 / duration, 1),
        "stop_s": round(stop_s, 3),
        "clicks": len(lags),
        "max_click_frame_lag_ms": round(max(lags), 1) if lags else None,
        "median_click_frame_lag_ms": round(statistics.median(lags), 1) if lags else None,
    }


def table(r: dict[str, Any]) -> str:
    lines = [f"recorder benchmark: {r['duration_s']:.0f} s office workload, 1920x1080, "
             f"burst {r['burst_events_per_s']} events/s", ""]
    lines.append(f"{'event kind':<16}{'generated':>10}{'captured':>10}")
    for k in KINDS:
        lines.append(f"{k:<16}{r['events_generated'][k]:>10}{r['events_captured'][k]:>10}")
    gen, cap = sum(r["events_generated"].values()), sum(r["events_captured"].values())
    lines.append(f"{'total':<16}{gen:>10}{cap:>10}")
    lines.append("")

    def row(name: str, value: Any, target: str, ok: bool | None) -> str:
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        return f"{name:<28}{value!s:>14}   {target:<22}{verdict}"

    lines.append(f"{'metric':<28}{'value':>14}   {'target':<22}")
    lines.append(row("events captured", f"{cap}/{gen}", "100%", cap == gen))
    lines.append(row("frames / dropped", f"{r['frames']} / {r['dropped_frames']}", "", None))
    lines.append(row("CPU mean % (one core)", r["cpu_mean_pct"], "<= 5", r["cpu_mean_pct"] <= 5))
    lines.append(row("CPU max % (3 s window)", r["cpu_max_pct"], "", None))
    lines.append(row("PSS mean / max MB", f"{r['pss_mean_mb']} / {r['pss_max_mb']}", "<= 150",
                     (r["pss_max_mb"] or 0) <= 150))
    lines.append(row("PSS growth MB", r["pss_growth_mb"], "no growth (< 10)", (r["pss_growth_mb"] or 0) < 10))
    lines.append(row("MB per active hour", r["mb_per_hour"], "<= 60", r["mb_per_hour"] <= 60))
    lines.append(row("stop latency s", r["stop_s"], "<= 2", r["stop_s"] <= 2))
    lines.append(row("max click frame lag ms", r["max_click_frame_lag_ms"], "<= 100",
                     (r["max_click_frame_lag_ms"] or 0) <= 100))
    lines.append(row("median click frame lag ms", r["median_click_frame_lag_ms"], "", None))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=60.0, help="workload length in seconds (default 60)")
    ap.add_argument("--burst", type=int, default=5000, help="events per second in the burst (default 5000)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--keep", type=Path, help="copy the spool and exports here")
    args = ap.parse_args()
    result = run(args.duration, args.burst, args.keep)
    if args.json:
        gen = sum(result["events_generated"].values())
        cap = sum(result["events_captured"].values())
        result["events_generated_total"] = gen
        result["events_captured_total"] = cap
        print(json.dumps(result))
    else:
        print(table(result))


if __name__ == "__main__":
    main()
