"""Benchmark the dataset builder on a generated one-hour recording.

    python bench/datasets.py                 # table
    python bench/datasets.py --json          # one JSON object
    python bench/datasets.py --format agentnet --image-format png --runs 5

Setup (untimed, cached under ``.bench/datasets/``): one hour of office work as the recorder
writes it: 60 one-minute MCAP segments of one session at 1920x1080, with typing bursts, clicks
after pointer trails, scrolls, hotkeys, idle stretches, window switches between three
applications and task markers around stretches of work; frames are real H.264 (x264, as the
recorder encodes) of a synthetic screen whose pixels change with each action: a keyframe at each
segment start, a ``before_action`` frame before every action and a ``change`` frame after it.

Timed: ``build()`` of the whole hour from the plain segments (``LocalSource``: no governance, no
decryption) to a dataset on disk, in a fresh child process per run: reduction, task splitting,
quality filters, decoding every frame up to the last one needed, image compression and writing.
No OCR is involved. Reported as medians over ``--runs``:

* ``realtime_factor_per_core``: recorded seconds per CPU second of the build (user + system, all
  threads): how many hours of recording one core turns into a dataset per hour. Target >= 200.
* ``realtime_factor_wall``: recorded seconds per wall second on this machine.
* ``peak_rss_mb``: the build process's peak resident memory (imports included).
* ``mb_per_hour``: dataset bytes written per hour of recording.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_FACTOR = 200.0
WIDTH, HEIGHT = 1920, 1080
GENERATOR_VERSION = 1
ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".bench" / "datasets"


# --- the generated hour ------------------------------------------------------------------------------
def generate(folder: Path, minutes: int, seed: int) -> dict[str, Any]:
    """Write ``minutes`` one-minute segments of scripted office work into ``folder``."""
    import numpy as np

    from jobshadow.records import (
        EncodedFrame,
        FocusChange,
        FrameMeta,
        KeyEvent,
        Marker,
        MouseButton,
        MouseMove,
        Rect,
        Scroll,
        VisibleWindow,
        WindowInfo,
    )
    from jobshadow.segment.video import H264Encoder
    from jobshadow.segment.writer import SegmentWriter

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    apps = [WindowInfo(0x1000001, "xterm", "XTerm", "notes - xterm", 4001, "xterm", Rect(0, 0, 960, 1080)),
            WindowInfo(0x2000001, "Navigator", "firefox", "Quarterly plan - Mozilla Firefox", 4002, "firefox",
                       Rect(960, 0, 960, 1080)),
            WindowInfo(0x3000001, "libreoffice", "libreoffice-calc", "budget.ods - LibreOffice Calc", 4003,
                       "soffice", Rect(200, 100, 1500, 900))]
    visible = tuple(VisibleWindow(a.window_id, a.wm_class, a.geometry, True, False) for a in apps)
    screen = np.full((HEIGHT, WIDTH, 4), 235, np.uint8)
    screen[..., 3] = 255
    for k, a in enumerate(apps):  # a distinct tint per window
        g = a.geometry
        screen[g.y:g.y + g.height, g.x:g.x + g.width, k % 3] = 200
    counts = {"actions": 0, "frames": 0, "events": 0}
    session = "benchhr"
    t_base = 1000.0
    focus = 0
    task_open = False
    task_n = 0
    cursor = [WIDTH // 2, HEIGHT // 2]
    for minute in range(minutes):
        t0 = t_base + 60.0 * minute
        t_end = t0 + 60.0
        sid = f"20261122T{10 + minute // 60:02d}{minute % 60:02d}00Z-{session}-{minute + 1:04d}"
        seq = 0
        encoder = H264Encoder(WIDTH, HEIGHT)  # each segment decodes on its own: starts on a keyframe
        with (folder / f"{sid}.mcap").open("wb") as fh:
            w = SegmentWriter(fh, {"segment_id": sid, "session_id": session, "schema_version": 1,
                                   "started": f"2026-11-22T{10 + minute // 60:02d}:{minute % 60:02d}:00+00:00",
                                   "wall_offset": 1.7e9, "screen": {"width": WIDTH, "height": HEIGHT},
                                   "monitors": [{"x": 0, "y": 0, "width": WIDTH, "height": HEIGHT}]})

            def frame(t: float, reason: str, w: SegmentWriter = w, encoder: H264Encoder = encoder) -> None:
                nonlocal seq
                data, key = encoder.encode(screen.tobytes(), WIDTH, HEIGHT, int(t * 1000))
                seq += 1
                w.write_frame(EncodedFrame(FrameMeta(t, seq, reason, t, WIDTH, HEIGHT, key, (), visible),  # type: ignore[arg-type]
                                           data))
                counts["frames"] += 1

            frame(t0, "start")
            w.write(FocusChange(t0, apps[focus], carried=minute > 0))
            t = t0 + 0.5
            while t < t_end - 3:
                roll = rng.random()
                if not task_open and rng.random() < 0.08:
                    task_n += 1
                    w.write(Marker(t, "task_start", {"title": f"task {task_n}"}))
                    task_open = True
                elif task_open and rng.random() < 0.03:
                    w.write(Marker(t, "task_end", {"title": f"task {task_n}"}))
                    task_open = False
                if roll < 0.05:  # switch application
                    focus = (focus + 1 + rng.randrange(2)) % 3
                    w.write(FocusChange(t, apps[focus]))
                    t += 0.3
                    continue
                if roll < 0.12:  # idle: reading, thinking
                    t += rng.uniform(3, 15)
                    continue
                win = apps[focus].geometry
                frame(t, "before_action")
                if roll < 0.45:  # type a phrase
                    n = rng.randint(8, 60)
                    y = win.y + 40 + 18 * rng.randrange(40)
                    for i in range(n):
                        ch = rng.choice("abcdefghijklmnopqrstuvwxyz     ,.")
                        kt = t + i * 0.16
                        w.write(KeyEvent(kt, "key_press", 38, ord(ch), ch, ch, (), apps[focus].window_id))
                        w.write(KeyEvent(kt + 0.06, "key_release", 38, ord(ch), ch, ch, (), apps[focus].window_id))
                        counts["events"] += 2
                    x = win.x + 20
                    screen[y:y + 14, x:x + 9 * n, :3] = rng.randrange(40, 90)
                    t += n * 0.16 + 0.1
                elif roll < 0.8:  # move, then click
                    tx, ty = win.x + rng.randrange(win.width), win.y + rng.randrange(win.height)
                    for i in range(1, 16):
                        mx = cursor[0] + (tx - cursor[0]) * i // 15
                        my = cursor[1] + (ty - cursor[1]) * i // 15
                        w.write(MouseMove(t + i * 0.02, mx, my))
                    counts["events"] += 15
                    cursor[:] = [tx, ty]
                    t += 0.35
                    w.write(MouseButton(t, "mouse_press", 1, tx, ty))
                    w.write(MouseButton(t + 0.08, "mouse_release", 1, tx, ty))
                    counts["events"] += 2
                    x0, y0 = max(0, tx - 60), max(0, ty - 20)
                    screen[y0:y0 + 40, x0:x0 + 120, :3] = 255 - screen[y0:y0 + 40, x0:x0 + 120, :3]
                    t += 0.1
                elif roll < 0.93:  # scroll a few notches
                    notches = rng.randint(2, 6)
                    for i in range(notches):
                        w.write(Scroll(t + i * 0.05, cursor[0], cursor[1], 0, 1))
                    counts["events"] += notches
                    g = win
                    screen[g.y:g.y + g.height, g.x:g.x + g.width] = np.roll(
                        screen[g.y:g.y + g.height, g.x:g.x + g.width], -40 * notches, axis=0)
                    t += notches * 0.05 + 0.1
                else:  # a hotkey
                    wid = apps[focus].window_id
                    w.write(KeyEvent(t, "key_press", 37, 0xFFE3, "Control_L", None, (), wid))
                    w.write(KeyEvent(t + 0.05, "key_press", 39, ord("s"), "s", "s", ("ctrl",), wid))
                    w.write(KeyEvent(t + 0.1, "key_release", 39, ord("s"), "s", "s", ("ctrl",), wid))
                    w.write(KeyEvent(t + 0.15, "key_release", 37, 0xFFE3, "Control_L", None, ("ctrl",), wid))
                    counts["events"] += 4
                    screen[win.y:win.y + 24, win.x:win.x + win.width, :3] ^= 0x20
                    t += 0.2
                counts["actions"] += 1
                frame(t + 0.15, "change")
                t += rng.uniform(0.4, 2.5)
            w.finish({"finished_by": "rotation", "ended": ""})
    return {"minutes": minutes, "seed": seed, **counts}


def recording(minutes: int, seed: int) -> tuple[Path, dict[str, Any]]:
    folder = CACHE / f"v{GENERATOR_VERSION}-{minutes}m-{seed}"
    info = folder / "info.json"
    if info.exists():
        return folder, json.loads(info.read_text())
    tmp = Path(tempfile.mkdtemp(prefix="gen-", dir=CACHE.parent if CACHE.parent.exists() else None))
    try:
        stats = generate(tmp, minutes, seed)
        (tmp / "info.json").write_text(json.dumps(stats))
        if folder.exists():
            shutil.rmtree(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder, stats


# --- one timed build, in its own process ---------------------------------------------------------------
def measure(folder: Path, fmt: str, image_format: str, engine: str) -> dict[str, Any]:
    from jobshadow.datasets.build import BuildOptions, build
    from jobshadow.datasets.sources import LocalSource

    out = Path(tempfile.mkdtemp(prefix="dataset-")) / "out"
    try:
        before = resource.getrusage(resource.RUSAGE_SELF)
        t = time.perf_counter()
        report = build(LocalSource(folder, None), BuildOptions(fmt, out, image_format=image_format, engine=engine))
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": after.ru_maxrss / 1024, "bytes": size,
                "recorded_s": report.recorded_s, "tasks": report.tasks, "steps": report.steps,
                "images": report.images, "frames_decoded": report.frames_decoded, "actions": report.actions}
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=int, default=60, help="length of the generated recording (default 60)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--format", dest="fmt", default="hf", choices=["hf", "agentnet", "osworld"])
    ap.add_argument("--image-format", default="jpeg", choices=["jpeg", "png"])
    ap.add_argument("--engine", default="local", choices=["local", "ray"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # internal: one timed build
    args = ap.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure, args.fmt, args.image_format, args.engine)))
        return 0

    t = time.perf_counter()
    folder, stats = recording(args.minutes, args.seed)
    generated_s = time.perf_counter() - t
    runs = []
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, __file__, "--measure", str(folder), "--format", args.fmt,
                              "--image-format", args.image_format, "--engine", args.engine],
                             capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return 1
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    med = {k: statistics.median(r[k] for r in runs) for k in ("wall_s", "cpu_s", "peak_rss_mb", "bytes")}
    recorded = runs[0]["recorded_s"]
    hours = recorded / 3600
    result = {
        "recorded_s": round(recorded, 1), "minutes": args.minutes, "format": args.fmt,
        "image_format": args.image_format, "engine": args.engine, "runs": args.runs,
        "actions_generated": stats["actions"], "frames_generated": stats["frames"],
        "steps": runs[0]["steps"], "tasks": runs[0]["tasks"], "images": runs[0]["images"],
        "frames_decoded": runs[0]["frames_decoded"],
        "wall_s": round(med["wall_s"], 2), "cpu_s": round(med["cpu_s"], 2),
        "realtime_factor_per_core": round(recorded / med["cpu_s"], 1),
        "realtime_factor_wall": round(recorded / med["wall_s"], 1),
        "peak_rss_mb": round(med["peak_rss_mb"], 1),
        "mb_per_hour": round(med["bytes"] / 1e6 / hours, 1),
        "target_realtime_factor_per_core": TARGET_FACTOR,
        "pass": recorded / med["cpu_s"] >= TARGET_FACTOR,
        "generation_s": round(generated_s, 1),
    }
    if args.json:
        print(json.dumps(result))
        return 0
    rows = [("recording", f"{recorded / 60:.0f} min, {stats['actions']} actions, {stats['frames']} frames"),
            ("dataset", f"{result['tasks']} tasks, {result['steps']} steps, {result['images']} images "
                        f"({args.fmt}, {args.image_format}, engine {args.engine})"),
            ("build wall / cpu (median)", f"{result['wall_s']} s / {result['cpu_s']} s over {args.runs} runs"),
            ("real-time factor per core", f"{result['realtime_factor_per_core']}x  (target >= {TARGET_FACTOR:.0f}x: "
                                          f"{'PASS' if result['pass'] else 'FAIL'})"),
            ("real-time factor, wall", f"{result['realtime_factor_wall']}x"),
            ("peak RSS", f"{result['peak_rss_mb']} MB"),
            ("output per hour", f"{result['mb_per_hour']} MB")]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
