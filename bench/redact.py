"""Benchmark ``jobshadow.sensitive``: per-kind recall/precision/F2, throughput and ``partial()``.

    python bench/redact.py                        # evaluation and holdout splits, tables
    python bench/redact.py --json                 # one JSON object, every split
    python bench/redact.py --split dev --show 5   # tuning: print misses and false alarms

Three splits. ``dev`` and ``eval`` come from ``bench/redact_corpus.py`` (with
``redact_everyday.py``): seeded, labelled, rendered from templates split into *development*
(tuned against) and *evaluation* (not tuned against, but looked at; see its docstring).
``holdout`` comes from ``bench/redact_holdout.py``: its own generators (Faker, many locales)
and templates, written and committed before the detector work it measures, and not looked at
while tuning (see its docstring for its history). ``--size`` is the number of documents
rendered per split.

Matching rule: each document is scanned on its own. A finding is *correct* when a planted value
of the same kind overlaps its span (at least one character in common). A planted value is
*recalled* when some correct finding overlaps it. Per kind, precision = correct findings /
findings of that kind, recall = recalled planted / planted; F2 weighs recall four times as much
as precision (a missed secret costs more than an extra redaction). Overall numbers are
micro-averaged over all kinds. Findings on look-alike negatives (SHAs, UUIDs, versions,
Luhn-invalid cards, ISBNs…) and on filler text are false positives of the kind they report.

Throughput: ``scan()`` over the whole split's text (documents joined by blank lines) in one
call, median of ``--runs`` timed runs after one warm-up, in MB (10^6 bytes of UTF-8) per second
of this process's CPU time (one core; the wall-clock figure is printed beside it and equals it on
an idle machine).

``partial()`` (``--partial N`` documents per split): the text is cut at every word end outside
planted values and look-alikes, and ``partial(text[:cut])`` is asked whether the last word could
start a secret; the share it flags is its false-positive rate on ordinary text (look-alikes are
reported apart: a Luhn-invalid card in progress is indistinguishable from a card). Each planted
value of 6+ characters is also cut in half, and the share withheld (and with the right kind) is
reported.

Exit status is 0 unless a corpus itself is broken (planted labels that do not match the text),
then 2.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import redact_corpus
import redact_holdout

from jobshadow.sensitive import KINDS, Finding, partial, scan

TARGET_RECALL = 0.995
TARGET_PRECISION = 0.99
TARGET_MB_PER_S = 20.0
SPLITS = ("dev", "eval", "holdout")
_BREAKS = " \t\n\r\x1f"


def build(split: str, seed: int, size: int, batch: str | None = None) -> redact_corpus.Corpus:
    """The corpus of one split (of one batch of the holdout split, when given)."""
    if split == "holdout":
        return redact_holdout.build(seed, size, batch)
    return redact_corpus.build(redact_corpus.TEMPLATES, seed, size, split)


def _f2(p: float, r: float) -> float:
    return 0.0 if p == 0 and r == 0 else 5 * p * r / (4 * p + r)


def evaluate(corpus: redact_corpus.Corpus, show: int = 0) -> dict[str, object]:
    planted = Counter[str]()
    recalled = Counter[str]()
    reported = Counter[str]()
    correct = Counter[str]()
    misses: list[str] = []
    alarms: list[str] = []
    for doc in corpus.docs:
        found = [Finding(f.start + doc.start, f.end + doc.start, f.kind) for f in scan(doc.text)]
        for p in doc.planted:
            planted[p.kind] += 1
            if any(f.kind == p.kind and f.start < p.end and p.start < f.end for f in found):
                recalled[p.kind] += 1
            elif len(misses) < show * len(KINDS):
                got = [
                    (f.kind, corpus.text[f.start : f.end][:40]) for f in found if f.start < p.end and p.start < f.end
                ]
                misses.append(f"MISS {p.kind:24} [{doc.template}] {p.value[:60]!r} got={got}")
        for f in found:
            reported[f.kind] += 1
            if any(p.kind == f.kind and p.start < f.end and f.start < p.end for p in doc.planted):
                correct[f.kind] += 1
            elif len(alarms) < show * len(KINDS):
                lo = max(doc.start, f.start - 30)
                ctx = corpus.text[lo : f.end + 10].replace("\n", "⏎")
                alarms.append(f"FP   {f.kind:24} [{doc.template}] {corpus.text[f.start : f.end][:50]!r} in {ctx!r}")
    per_kind: dict[str, dict[str, float | int]] = {}
    for kind in KINDS:
        rec = recalled[kind] / planted[kind] if planted[kind] else 1.0
        prec = correct[kind] / reported[kind] if reported[kind] else 1.0
        per_kind[kind] = {
            "planted": planted[kind],
            "reported": reported[kind],
            "recall": rec,
            "precision": prec,
            "f2": _f2(prec, rec),
        }
    tot_p = sum(planted.values())
    tot_rep = sum(reported.values())
    recall = sum(recalled.values()) / tot_p if tot_p else 1.0
    precision = sum(correct.values()) / tot_rep if tot_rep else 1.0
    return {
        "recall": recall,
        "precision": precision,
        "f2": _f2(precision, recall),
        "per_kind": per_kind,
        "examples": misses[: show * 4] + alarms[: show * 4] if show else [],
    }


def throughput(text: str, runs: int) -> tuple[float, float]:
    """(MB/s per CPU-second, MB/s per wall-clock second), medians over ``runs`` timed scans.

    CPU time of this process is what "per core" means and stays honest on a shared machine,
    where other processes stretch the wall clock; both are reported.
    """
    scan(text)  # warm-up: lazy imports, libphonenumber metadata
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(runs):
        c0, w0 = time.process_time(), time.perf_counter()
        scan(text)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    mb = len(text.encode("utf-8")) / 1e6
    return mb / statistics.median(cpu), mb / statistics.median(wall)


def _overlaps(spans: list[tuple[int, int]], s: int, e: int) -> bool:
    return any(a < e and s < b for a, b in spans)


def partial_rates(corpus: redact_corpus.Corpus, docs: int) -> dict[str, float | int]:
    """How ``partial()`` does on the first ``docs`` documents (see the module docstring)."""
    words = flagged = alike = alike_flagged = halves = withheld = right = 0
    cpu = 0.0
    for doc in corpus.docs[:docs]:
        text = doc.text
        planted = [(p.start - doc.start, p.end - doc.start) for p in doc.planted]
        lookalike = [(p.start - doc.start, p.end - doc.start) for p in doc.lookalikes]
        ts = 0
        for i in range(1, len(text) + 1):
            if text[i - 1] in _BREAKS:
                ts = i
                continue
            if i < len(text) and text[i] not in _BREAKS:
                continue
            if _overlaps(planted, ts, i):
                continue
            c0 = time.process_time()
            f = partial(text[:i])
            cpu += time.process_time() - c0
            hit = f is not None and not _overlaps(planted, f.start, f.end)
            if _overlaps(lookalike, ts, i):
                alike += 1
                alike_flagged += hit
            else:
                words += 1
                flagged += hit
        for p in doc.planted:
            s, e = p.start - doc.start, p.end - doc.start
            cut = s + (e - s) // 2
            if e - s < 6 or text[cut - 1] in _BREAKS:
                continue
            halves += 1
            f = partial(text[:cut])
            if f is not None and f.start < cut and s < f.end:
                withheld += 1
                right += f.kind == p.kind
    return {
        "word_ends": words,
        "false_positive_rate": flagged / words if words else 0.0,
        "lookalike_word_ends": alike,
        "lookalike_flag_rate": alike_flagged / alike if alike else 0.0,
        "values_cut": halves,
        "withheld_rate": withheld / halves if halves else 0.0,
        "right_kind_rate": right / halves if halves else 0.0,
        "us_per_call": 1e6 * cpu / max(1, words + alike),
    }


def _meets(v: dict[str, float | int]) -> bool:
    return v["recall"] >= TARGET_RECALL and v["precision"] >= TARGET_PRECISION


def run_split(split: str, args: argparse.Namespace) -> dict[str, object] | None:
    corpus = build(split, args.seed, args.size, args.batch if split == "holdout" else None)
    problems = redact_corpus.check(corpus)
    if problems:
        print(f"{split} corpus is broken:", *problems[:10], sep="\n  ", file=sys.stderr)
        return None
    result = evaluate(corpus, args.show)
    mbps, wall_mbps = throughput(corpus.text, args.runs)
    per_kind = result["per_kind"]
    assert isinstance(per_kind, dict)
    result.update(
        mb_per_s=mbps,
        mb_per_s_wall=wall_mbps,
        corpus_mb=len(corpus.text.encode("utf-8")) / 1e6,
        documents=len(corpus.docs),
        passed=mbps >= TARGET_MB_PER_S and all(_meets(v) for v in per_kind.values()),
    )
    if args.partial:
        result["partial"] = partial_rates(corpus, args.partial)
    return result


def _print_split(split: str, result: dict[str, object], args: argparse.Namespace) -> None:
    print(f"split={split} seed={args.seed} documents={result['documents']} size={result['corpus_mb']:.2f} MB")
    print(f"{'kind':26} {'planted':>7} {'reported':>8} {'recall':>7} {'precision':>9} {'F2':>6}  target")
    per_kind = result["per_kind"]
    assert isinstance(per_kind, dict)
    for kind, v in per_kind.items():
        print(
            f"{kind:26} {v['planted']:7d} {v['reported']:8d} {v['recall']:7.3f} {v['precision']:9.3f} "
            f"{v['f2']:6.3f}  {'PASS' if _meets(v) else 'FAIL'}"
        )
    rec, prec, f2, mbps, wall = (result[k] for k in ("recall", "precision", "f2", "mb_per_s", "mb_per_s_wall"))
    assert isinstance(rec, float) and isinstance(prec, float) and isinstance(f2, float)
    assert isinstance(mbps, float) and isinstance(wall, float)
    print(f"{'overall (micro)':26} {'':7} {'':8} {rec:7.3f} {prec:9.3f} {f2:6.3f}")
    print(
        f"throughput: {mbps:.1f} MB/s per core, CPU time (wall clock {wall:.1f}; median of {args.runs})"
        f"  target >= {TARGET_MB_PER_S:.0f}: {'PASS' if mbps >= TARGET_MB_PER_S else 'FAIL'}"
    )
    part = result.get("partial")
    if isinstance(part, dict):
        print(
            f"partial(): {part['word_ends']} word ends, {100 * part['false_positive_rate']:.2f}% flagged; "
            f"look-alikes {100 * part['lookalike_flag_rate']:.1f}% of {part['lookalike_word_ends']}; "
            f"values cut in half withheld {100 * part['withheld_rate']:.1f}% "
            f"(right kind {100 * part['right_kind_rate']:.1f}%) of {part['values_cut']}; "
            f"{part['us_per_call']:.0f} us per call"
        )
    examples = result["examples"]
    assert isinstance(examples, list)
    for line in examples:
        print(line)
    print()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--seed", type=int, default=20240501, help="corpus seed (same seed, same corpus)")
    ap.add_argument("--size", type=int, default=4000, help="documents rendered per split")
    ap.add_argument("--split", choices=SPLITS, action="append", help="split to run (repeatable; default eval, holdout)")
    ap.add_argument("--batch", choices=("h", "h2"), help="holdout split: one batch of its templates only")
    ap.add_argument("--runs", type=int, default=5, help="timed scan() runs for throughput")
    ap.add_argument("--partial", type=int, default=150, help="documents per split for partial() rates (0: skip)")
    ap.add_argument("--show", type=int, default=0, help="print up to N misses/false alarms per kind")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    args = ap.parse_args(argv)

    results: dict[str, dict[str, object]] = {}
    for split in args.split or ["eval", "holdout"]:
        result = run_split(split, args)
        if result is None:
            return 2
        results[split] = result
        if not args.json:
            _print_split(split, result, args)
    passed = all(r["passed"] for r in results.values())
    if args.json:
        for r in results.values():
            r.pop("examples")
        targets = {"recall": TARGET_RECALL, "precision": TARGET_PRECISION, "mb_per_s": TARGET_MB_PER_S}
        print(json.dumps({"seed": args.seed, "targets": targets, "splits": results, "pass": passed}, sort_keys=True))
        return 0
    print(
        f"all targets (recall >= {TARGET_RECALL}, precision >= {TARGET_PRECISION} per kind, "
        f">= {TARGET_MB_PER_S:.0f} MB/s, every split): {'PASS' if passed else 'FAIL'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
