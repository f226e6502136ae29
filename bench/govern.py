"""Benchmark the governance door: policy decisions per second, governed query overhead, erasure latency.

    python bench/govern.py            # table
    python bench/govern.py --json     # one JSON object (decisions_per_s, query_overhead_pct, erase_s, ...)

Setup (untimed): a fresh server home with a curated lake written through the door as the
pipeline: ``--subjects`` people x ``--segments`` segments x ``--events`` input events each
(typed characters sealed per subject and segment, as curation stores them), segment rows whose
collection scope allows ``model_training``, and a time-limited grant to a group for it.

* Decisions: ``PolicyEngine.authorize_many`` over batches of 1,000 random requests (principals
  granted and not, tables and columns, registered and forbidden purposes, all four actions),
  the entity store holding every principal, group, table and column. Median of ``--runs``
  batches, as decisions per second of wall time.
* Query overhead: the same SQL (``--sql``) run (a) governed, ``Governance.query`` as a granted
  person for ``model_training``: policy decisions for the table and each column named, the audit
  records (one per subject read), the purpose's row rule, the Iceberg scan, DuckDB; and (b) raw:
  an ungoverned reader with catalog access, scanning the same columns of the same Iceberg table
  to Arrow and running the same SQL in DuckDB. Runs alternate; overhead = median(a)/median(b) - 1.
  A second query naming a sealed column shows the cost of decryption (governed only: the raw
  reader cannot decrypt).
* Erasure: ``subject erase`` of one subject; ``erase_s`` is the time until the subject's data is
  unreadable (data key destroyed, pending landed uploads removed), ``erase_total_s`` until every
  row, snapshot and file of theirs is gone.

Targets: decisions >= 20,000/s, query overhead <= 15 %, erase_s <= 1 s.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from jobshadow.config import load_settings
from jobshadow.govern.door import PIPELINE, Governance
from jobshadow.govern.policy import Request
from jobshadow.govern.rights import erase_subject
from jobshadow.lake import curated

TARGET_DECISIONS = 20_000
TARGET_OVERHEAD = 15.0
TARGET_ERASE = 1.0
ML = "person:ml@example.com"
DEFAULT_SQL = "SELECT kind, count(*) AS n, avg(x) AS mean_x, max(t) AS last_t FROM curated.events GROUP BY kind"
SEALED_SQL = "SELECT count(char) AS typed FROM curated.events WHERE kind = 'key_press'"


def populate(gov: Governance, subjects: int, segments: int, events: int) -> list[str]:
    rng = random.Random(7)
    kinds = ["mouse_move"] * 6 + ["key_press", "key_release", "mouse_press", "mouse_release", "scroll"]
    subject_ids = []
    start = datetime(2026, 11, 1, 9, tzinfo=UTC)
    for s in range(subjects):
        subject = gov.subject_for(f"person-{s:04d}")
        subject_ids.append(subject)
        seg_rows: list[dict[str, Any]] = []
        for g in range(segments):
            # One append per segment, as curation does (a data file per segment and table).
            ev_cols: dict[str, list[Any]] = {c.name: [] for c in curated.EVENTS.columns}
            seg = f"{subject}-seg{g:03d}"
            t0 = start + timedelta(minutes=g)
            for i in range(events):
                kind = rng.choice(kinds)
                key = kind.startswith("key")
                row = {"subject": subject, "segment_id": seg, "seq": i, "t": i * 0.05,
                       "wall_time": t0 + timedelta(seconds=i * 0.05), "kind": kind,
                       "stream": "typing" if key else None, "modifiers": [], "x": None if key else rng.randrange(1920),
                       "y": None if key else rng.randrange(1080), "button": 1 if kind == "mouse_press" else None,
                       "dx": None, "dy": -1 if kind == "scroll" else None, "window_id": 0x1200001, "finding": None,
                       "keycode": 38 if key else None, "keysym": 97 if key else None,
                       "keysym_name": "a" if key else None, "char": rng.choice("abcdefgh ") if key else None,
                       "prompt_keysym_name": None, "prompt_char": None}
                for c in ev_cols:
                    ev_cols[c].append(row[c])
            gov.write(PIPELINE, "processing", curated.EVENTS.name,
                      pa.table(ev_cols, schema=curated.EVENTS.arrow_schema()))
            seg_rows.append({"subject": subject, "segment_id": seg, "device_id": f"dev-{s}", "session_id": "s1",
                             "content_hash": f"{s:04d}{g:04d}".ljust(64, "0"), "started_at": t0,
                             "ended_at": t0 + timedelta(minutes=1), "wall_offset": 0.0, "screen_width": 1920,
                             "screen_height": 1080, "monitors": "[]", "scope_name": "work", "scope_version": 1,
                             "purposes": ["model_training"], "retention_days": 90, "curated_at": start})
        gov.write(PIPELINE, "processing", curated.SEGMENTS.name,
                  pa.Table.from_pylist(seg_rows, schema=curated.SEGMENTS.arrow_schema()))
    return subject_ids


def bench_decisions(gov: Governance, runs: int) -> dict[str, float]:
    rng = random.Random(11)
    for i in range(40):
        gov.state.add_member(f"person:u{i}@example.com", f"group:team{i % 8}")
    for i in range(8):
        gov.state.grant(f"group:team{i}", "read", rng.choice(["curated.events", "curated.windows"]),
                        rng.choice(["model_training", "privacy_audit"]), 3600, by="bench")
    resources = []
    for t in curated.CURATED:
        resources.append(t.name)
        resources += [f"{t.name}#{c.name}" for c in t.columns]
    principals = [f"person:u{i}@example.com" for i in range(40)] + [ML, "service:etl", "group:team3", PIPELINE]
    purposes = ["model_training", "privacy_audit", "subject_access", "processing", "performance_evaluation",
                "hr_investigation"]
    actions = ["read", "write", "export", "administer"]
    batches = [[Request(rng.choice(principals), rng.choice(actions), rng.choice(resources), rng.choice(purposes))
                for _ in range(1000)] for _ in range(runs)]
    gov.policy.authorize_many(batches[0])  # build the policy set and entities once
    rates = []
    allowed = 0
    for batch in batches:
        t0 = time.perf_counter()
        out = gov.policy.authorize_many(batch)
        rates.append(len(batch) / (time.perf_counter() - t0))
        allowed += sum(d.allowed for d in out)
    return {"decisions_per_s": statistics.median(rates), "decisions_min_per_s": min(rates),
            "allowed_share": allowed / (runs * 1000)}


class RawReader:
    """An ungoverned reader with catalog access and its own long-lived DuckDB connection."""

    def __init__(self, gov: Governance) -> None:
        self.catalog = gov.storage.catalog
        self.con = duckdb.connect()
        self.con.execute("CREATE SCHEMA curated")

    def query(self, sql: str, columns: list[str]) -> pa.Table:
        data = self.catalog.load_table(curated.EVENTS.name).scan(selected_fields=tuple(columns)).to_arrow()
        self.con.register("events_raw", data)
        self.con.execute("CREATE OR REPLACE VIEW curated.events AS SELECT * FROM events_raw")
        try:
            return self.con.sql(sql).to_arrow_table()
        finally:
            self.con.unregister("events_raw")


def bench_query(gov: Governance, sql: str, runs: int) -> dict[str, Any]:
    from jobshadow.govern.sql import analyse

    shape = analyse(sql)
    columns = [c.name for c in curated.EVENTS.plain if shape.columns is None or c.name in shape.columns]
    reader = RawReader(gov)
    governed_result = gov.query(ML, "model_training", sql)  # warm both paths
    raw_result = reader.query(sql, columns)
    same = governed_result.sort_by([(governed_result.column_names[0], "ascending")]).equals(
        raw_result.sort_by([(raw_result.column_names[0], "ascending")]))
    governed, raw = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        gov.query(ML, "model_training", sql)
        governed.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        reader.query(sql, columns)
        raw.append(time.perf_counter() - t0)
    sealed = []
    for _ in range(max(3, runs // 3)):
        t0 = time.perf_counter()
        gov.query(ML, "model_training", SEALED_SQL)
        sealed.append(time.perf_counter() - t0)
    g, r = statistics.median(governed), statistics.median(raw)
    return {"governed_ms": g * 1000, "raw_ms": r * 1000, "query_overhead_pct": (g / r - 1) * 100,
            "same_result": same, "sealed_query_ms": statistics.median(sealed) * 1000}


def bench_erase(gov: Governance, subject: str) -> dict[str, Any]:
    report = erase_subject(gov, subject, by="bench")
    return {"erase_s": report.unreadable_after_s, "erase_total_s": report.total_s,
            "erase_rows": sum(report.rows_deleted.values()), "erase_residual": report.residual}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=20)
    ap.add_argument("--segments", type=int, default=10, help="segments per subject")
    ap.add_argument("--events", type=int, default=1000, help="events per segment")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--sql", default=DEFAULT_SQL)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--keep", type=Path, help="keep the lake in this folder")
    args = ap.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="jobshadow-bench-govern-"))
    try:
        settings = load_settings(environ={"JOBSHADOW_HOME": str(root)})
        with Governance(settings) as gov:
            t0 = time.perf_counter()
            subjects = populate(gov, args.subjects, args.segments, args.events)
            setup_s = time.perf_counter() - t0
            gov.state.add_member(ML, "group:ml-team")
            gov.state.grant("group:ml-team", "read", curated.EVENTS.name, "model_training", 3600, by="bench")
            result: dict[str, Any] = {"rows": args.subjects * args.segments * args.events,
                                      "subjects": args.subjects, "setup_s": setup_s}
            result.update(bench_decisions(gov, args.runs))
            result.update(bench_query(gov, args.sql, args.runs))
            result.update(bench_erase(gov, subjects[0]))
            trail = gov.verify_audit()
            result["audit_ok"] = trail.ok
            result["audit_records"] = trail.log.tree_size
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    checks = {"decisions_per_s": result["decisions_per_s"] >= TARGET_DECISIONS,
              "query_overhead_pct": result["query_overhead_pct"] <= TARGET_OVERHEAD and result["same_result"],
              "erase_s": result["erase_s"] <= TARGET_ERASE and not result["erase_residual"]}
    result["pass"] = all(checks.values())
    result["verdicts"] = checks
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    rows = [
        ("lake", f"{result['rows']:,} events, {args.subjects} subjects (setup {setup_s:.1f} s)", "", ""),
        ("policy decisions / s", f"{result['decisions_per_s']:,.0f} (min {result['decisions_min_per_s']:,.0f})",
         f">= {TARGET_DECISIONS:,}", checks["decisions_per_s"]),
        ("governed query ms", f"{result['governed_ms']:.1f}", "", ""),
        ("raw DuckDB on the same Iceberg data ms", f"{result['raw_ms']:.1f}", "", ""),
        ("query overhead %", f"{result['query_overhead_pct']:.1f} (same result: {result['same_result']})",
         f"<= {TARGET_OVERHEAD:.0f}", checks["query_overhead_pct"]),
        ("query decrypting a sealed column ms", f"{result['sealed_query_ms']:.1f}", "", ""),
        ("erase: until unreadable s", f"{result['erase_s']:.3f}", f"<= {TARGET_ERASE:.0f}", checks["erase_s"]),
        ("erase: until every file is gone s", f"{result['erase_total_s']:.2f} ({result['erase_rows']:,} rows)", "",
         ""),
        ("audit log", f"{result['audit_records']:,} records, verifies: {result['audit_ok']}", "", ""),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, target, ok in rows:
        verdict = "" if ok == "" else ("PASS" if ok else "FAIL")
        print(f"{name:<{width}}  {value:<44} {target:<10} {verdict}")
    print(f"overall: {'PASS' if result['pass'] else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
