#!/usr/bin/env python3
"""Screen-redaction benchmark: do secrets on real screens become unreadable, and at what cost?

1. Screens are rendered for real (``bench/screen_render.py``): xterm and vim under Xvfb with
   several fonts, sizes and colour schemes, and Chromium pages shaped like chat, mail, tickets,
   code review, spreadsheets and a cloud console, with several fonts, sizes, themes and device
   scale factors. Each carries freshly generated secrets and PII of every detector kind, ordinary
   words and look-alikes (``bench/screen_corpus.py``, ``bench/screen_templates.py``).
2. Each screen is redacted by ``jobshadow.redact`` (a fresh stream: the whole screen is read).
3. An independent OCR (RapidOCR, ``bench/screen_check.py``) reads each screen before and after.
   zero-leak = share of planted values legible before that are not legible after (any third of
   the value, at least 10 characters, with one edit); utility = share of ordinary words legible
   before that still are after; look-alikes kept = the same for SHAs, dates, versions, IPs...
4. Speed on a real recording: the real recorder on Xvfb while the office workload of
   ``bench/recorder.py`` types and scrolls; its frames are decoded and redacted in order by one
   ``StreamRedactor``; process CPU seconds per frame (one core; tesseract limited to one thread).

    python bench/screen_redact.py [--per-template 3] [--split all|dev,heldout,heldout2] [--duration 60]
                                  [--no-recording] [--json] [--keep DIR]

Targets: >= 99% zero-leak, >= 90% utility, <= 0.3 CPU-s per 1080p frame (amortised).

Splits: ``dev`` was tuned against; ``heldout`` (first batch) was run once untouched (92.7%
zero-leak) and has been looked at since; ``heldout2`` (``bench/screen_heldout2.py``: chat thread,
issue tracker, dashboard, kubectl terminal, IDE, settings form; new themes, fonts, sizes, scales)
was written before the engine read any of it and run once untouched at commit 119b39a:
zero-leak 95.95% (142/148), utility 88.0% (426 words), look-alikes kept 91.6%, 0 failed frames.
The fixes that run led to are general rules (see the README); it has been looked at since.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # tesseract's OpenMP: one core, measured as one

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import screen_check
import screen_corpus
import screen_heldout2
import screen_render
import screen_templates
from PIL import Image

from jobshadow.redact import StreamRedactor, TesseractOcr
from jobshadow.sensitive import KINDS
from jobshadow.testing.xdesktop import Desktop


def render_all(screens: list[screen_corpus.Screen], work: Path) -> list[np.ndarray]:
    images: dict[str, np.ndarray] = {}
    terms = [s for s in screens if s.medium != "html"]
    if terms:
        desk = Desktop(1920, 1080)
        try:
            for s in terms:
                images[s.name] = screen_render.render_terminal(desk, s, work)
        finally:
            desk.close()
    for s in screens:
        if s.medium == "html":
            images[s.name] = screen_render.render_html(s)
    return [images[s.name] for s in screens]


def score(screen: screen_corpus.Screen, before: str, after: str) -> dict[str, Any]:
    items = []
    for p in screen.planted:
        items.append({"kind": p.kind, "before": screen_check.legible(p.value, before),
                      "after": screen_check.legible(p.value, after)})
    words = [(w, screen_check.word_count(w, before), screen_check.word_count(w, after)) for w in screen.ordinary]
    looks = [(v, screen_check.legible(v, before), screen_check.legible(v, after)) for v in screen.lookalikes]
    return {
        "items": items,
        "words_before": sum(1 for _, b, _ in words if b),
        "words_kept": sum(1 for _, b, a in words if b and a >= b),
        "looks_before": sum(1 for _, b, _ in looks if b),
        "looks_kept": sum(1 for _, b, a in looks if b and a),
        "looks": [{"value": v, "before": b, "after": a} for v, b, a in looks],
    }


def run_screens(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    screens: list[screen_corpus.Screen] = []
    # Each batch draws its own screens from the seed, so adding a batch leaves the others' screens as they were.
    for batch, styles in ((screen_templates.TEMPLATES, screen_templates.styles),
                          (screen_heldout2.TEMPLATES, screen_heldout2.styles)):
        templates = {k: v for k, v in batch.items() if args.split == "all" or v[0] in args.split.split(",")}
        screens += screen_corpus.make_screens(templates, args.per_template, args.seed, styles)
    images = render_all(screens, work)
    checker = screen_check.Checker()
    ocr = TesseractOcr()
    rows = []
    for n, (screen, image) in enumerate(zip(screens, images, strict=True)):
        t0 = time.process_time()
        result = StreamRedactor(ocr).redact(image)
        cpu = time.process_time() - t0
        after_img = result.image if result.image is not None else np.zeros_like(image)
        before, after = checker.read(image), checker.read(after_img)
        row = {"screen": screen.name, "template": screen.template, "split": screen.split, "style": screen.style,
               "cpu_s": round(cpu, 3), "failed": result.failed, "findings": len(result.findings),
               **score(screen, before, after)}
        rows.append(row)
        if args.keep:
            Image.fromarray(image).save(args.keep / f"{screen.name}.png")
            Image.fromarray(after_img).save(args.keep / f"{screen.name}.redacted.png")
            (args.keep / f"{screen.name}.json").write_text(json.dumps(
                {**row, "planted": [{"kind": p.kind, "value": p.value} for p in screen.planted],
                 "checker_before": before, "checker_after": after}, indent=1, default=str))
        leaks = sum(1 for i in row["items"] if i["before"] and i["after"])
        print(f"[{n + 1}/{len(screens)}] {screen.name}: {len(screen.planted)} planted, {leaks} legible after, "
              f"{cpu:.2f} CPU-s", file=sys.stderr)
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def pct(a: int, b: int) -> float | None:
        return round(100.0 * a / b, 2) if b else None

    legible = [i for r in rows for i in r["items"] if i["before"]]
    gone = [i for i in legible if not i["after"]]
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in rows:
        for i in r["items"]:
            k = per_kind[i["kind"]]
            k[0] += 1
            k[1] += i["before"]
            k[2] += i["before"] and not i["after"]
    words_before = sum(r["words_before"] for r in rows)
    looks_before = sum(r["looks_before"] for r in rows)
    return {
        "screens": len(rows),
        "planted": sum(len(r["items"]) for r in rows),
        "legible_before": len(legible),
        "zero_leak_pct": pct(len(gone), len(legible)),
        "utility_pct": pct(sum(r["words_kept"] for r in rows), words_before),
        "ordinary_words_legible_before": words_before,
        "lookalikes_kept_pct": pct(sum(r["looks_kept"] for r in rows), looks_before),
        "failed_frames": sum(r["failed"] for r in rows),
        "cpu_s_per_screen_median": round(statistics.median(r["cpu_s"] for r in rows), 3) if rows else None,
        "per_kind": {k: {"planted": v[0], "legible_before": v[1], "gone_after": v[2]}
                     for k, v in sorted(per_kind.items())},
    }


def record_frames(duration: float) -> list[np.ndarray]:
    """The real recorder on Xvfb during the office workload of ``bench/recorder.py``; its frames,
    decoded, in order."""
    import subprocess

    import recorder as rb

    from jobshadow.segment.reader import parse
    from jobshadow.spool.export import decoded_frames
    from jobshadow.testing.workload import XTestDriver

    work = Path(tempfile.mkdtemp(prefix="jobshadow-screenbench-"))
    home = work / "home"
    desk = Desktop(1920, 1080)
    try:
        doc = work / "document.txt"
        doc.write_text("\n".join(f"{n:04d} The quick brown fox jumps over the lazy dog. " * 2 for n in range(3000)))
        notes = desk.app(["xterm", "-name", "notes", "-geometry", "158x80+0+0", "-e", "cat"], "notes")
        docw = desk.app(["xedit", str(doc)], "xedit")
        rb.tile(desk, notes, docw)
        env = rb.env_for(home, desk.display)
        assert rb.jobshadow(env, "consent", "give", "--yes").returncode == 0
        drv = XTestDriver(desk.display)
        proc = subprocess.Popen([sys.executable, "-m", "jobshadow", "record", "start"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        desk.wait_for(lambda: (home / "run" / "control.sock").exists(), 30, "the recorder to start")
        rb.office_workload(desk, drv, notes, docw, duration, 1000)
        drv.close()
        assert rb.jobshadow(env, "record", "stop").returncode == 0
        proc.communicate(timeout=60)
        frames: list[np.ndarray] = []
        for seg in json.loads(rb.jobshadow(env, "segments", "list", "--json").stdout):
            out = work / f"{seg['id']}.mcap"
            assert rb.jobshadow(env, "segments", "decrypt", seg["id"], "--out", str(out)).returncode == 0
            frames += [rgb for _meta, rgb in decoded_frames(parse(out.read_bytes()))]
    finally:
        desk.close()
        shutil.rmtree(work, ignore_errors=True)
    return frames


def time_stream(frames: list[np.ndarray]) -> dict[str, Any]:
    """One ``StreamRedactor`` over ``frames`` in order: process CPU seconds per frame."""
    redactor = StreamRedactor()
    walls, failed, findings = [], 0, 0
    cpu0 = time.process_time()
    for rgb in frames:
        result = redactor.redact(rgb)
        walls.append(result.seconds)
        failed += result.failed
        findings += len(result.findings)
    cpu = time.process_time() - cpu0
    return {"frames": len(frames), "size": list(frames[0].shape[1::-1]) if frames else None,
            "cpu_s": round(cpu, 2), "s_per_frame_per_core": round(cpu / max(1, len(frames)), 3),
            "first_frame_s": round(walls[0], 2) if walls else None,
            "p95_frame_s": round(float(np.percentile(walls, 95)), 3) if walls else None,
            "failed_frames": failed, "findings": findings}


def table(result: dict[str, Any]) -> str:
    lines = ["screen redaction benchmark", ""]
    for split, s in result["splits"].items():
        lines.append(f"{split}: {s['screens']} screens, {s['planted']} planted values "
                     f"({s['legible_before']} legible to the checker before redaction)")
        lines.append(f"  zero-leak {s['zero_leak_pct']}%   utility {s['utility_pct']}% "
                     f"({s['ordinary_words_legible_before']} words)   look-alikes kept {s['lookalikes_kept_pct']}%   "
                     f"failed {s['failed_frames']}   median {s['cpu_s_per_screen_median']} CPU-s per whole screen")
    lines += ["", f"{'kind':<26}{'planted':>8}{'legible':>9}{'gone':>6}"]
    for kind in KINDS:
        k = result["splits"]["all"]["per_kind"].get(kind)
        if k:
            lines.append(f"{kind:<26}{k['planted']:>8}{k['legible_before']:>9}{k['gone_after']:>6}")
    rec = result.get("recording")
    if rec:
        lines += ["", f"real recording: {rec['frames']} frames {rec['size']}, {rec['s_per_frame_per_core']} CPU-s "
                      f"per frame (first frame {rec['first_frame_s']} s, p95 {rec['p95_frame_s']} s), "
                      f"{rec['failed_frames']} failed"]
    lines += ["", f"targets: zero-leak >= 99%, utility >= 90%, <= 0.3 CPU-s per frame; "
                  f"zero_leak {result['zero_leak_pct']}%, utility {result['utility_pct']}%, "
                  f"s/frame/core {result['s_per_frame_per_core']}"]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-template", type=int, default=3, help="screens per template (default 3)")
    ap.add_argument("--split", default="all", help="all, or splits joined by commas: dev,heldout,heldout2")
    ap.add_argument("--seed", type=int, default=20261205)
    ap.add_argument("--duration", type=float, default=60.0, help="recording workload seconds (default 60)")
    ap.add_argument("--no-recording", action="store_true", help="skip the real-recording speed run")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--keep", type=Path, help="save screens, redacted screens and scores here")
    args = ap.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="jobshadow-screens-") as tmp:
        rows = run_screens(args, Path(tmp))
    splits = {"all": summarise(rows)}
    for split in ("dev", "heldout", "heldout2"):
        part = [r for r in rows if r["split"] == split]
        if part:
            splits[split] = summarise(part)
    rec = None if args.no_recording else time_stream(record_frames(args.duration))
    result = {"zero_leak_pct": splits["all"]["zero_leak_pct"], "utility_pct": splits["all"]["utility_pct"],
              "s_per_frame_per_core": rec["s_per_frame_per_core"] if rec else None,
              "splits": splits, "recording": rec, "screens": rows}
    if args.json:
        print(json.dumps(result, default=str))
    else:
        print(table(result))


if __name__ == "__main__":
    main()
