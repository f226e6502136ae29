"""Retention by label: data is shredded when the shortest retention of what it holds has passed (curated zone).

Every label has a retention in ``purposes.toml``; every segment also carries the retention of
the collection scope it was captured under. A row goes when either runs out for the labels of
its table: ``min(label retention, scope retention)`` after the segment started. Sealed values
go by their own column's label (AI prompts sooner than other typing), the screen media by
``screen_content``. Deleted rows then leave the warehouse for good (snapshots expired,
unreferenced files removed). ``now`` may be given to simulate the clock; ``apply=False``
reports what would be shredded and shreds nothing (what ``jobshadow govern retention`` does
unless asked to ``--apply``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from jobshadow.govern.expr import both, eq, isin
from jobshadow.govern.purposes import registry
from jobshadow.lake import curated

if TYPE_CHECKING:
    from jobshadow.govern.door import Governance

LANDING = "landing.segments"


@dataclass
class RetentionReport:
    now: str
    applied: bool = True
    rows_deleted: dict[str, int] = field(default_factory=dict)
    vault_blocks_deleted: int = 0
    media_removed: int = 0
    landed_blobs_removed: int = 0
    files_removed: int = 0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _deadline(start: datetime | None, label_days: int, scope_days: int | None) -> datetime | None:
    if start is None:
        return None
    days = label_days if scope_days is None else min(label_days, scope_days)
    return start + timedelta(days=days)


def enforce_retention(gov: Governance, now: datetime | None = None, by: str = "service:pipeline", *,
                      apply: bool = True) -> RetentionReport:
    now = now or datetime.now(UTC)
    reg = registry()
    report = RetentionReport(now.isoformat(), applied=apply)
    segs = gov.tables.scan(curated.SEGMENTS.name, ["subject", "segment_id", "started_at", "curated_at",
                                                   "retention_days"]).to_pylist()

    def expired(label_days: int) -> list[str]:
        out = []
        for s in segs:
            end = _deadline(s["started_at"] or s["curated_at"], label_days, s["retention_days"])
            if end is not None and end <= now:
                out.append(s["segment_id"])
        return out

    store = gov.storage.object_store
    touched: set[str] = set()
    # Landed rows (and any blob still waiting) by their own scope retention and labels.
    landing = gov.tables.scan(LANDING, ["segment_id", "content_hash", "blob_uri", "started_at", "landed_at",
                                        "retention_days"]).to_pylist()
    landing_days = reg.retention_days(gov.tables.definition(LANDING).labels)
    old = [r for r in landing
           if (end := _deadline(r["started_at"] or r["landed_at"], landing_days, r["retention_days"])) is not None
           and end <= now]
    if old:
        # The rows go before their blobs (and before the curated rows): curation never finds a
        # landed row without its blob, nor an uncurated-looking row of a segment being shredded.
        if apply:
            gov.tables.delete_rows(LANDING, isin("content_hash", [r["content_hash"] for r in old]))
        for r in old:
            name = store.name_of(r["blob_uri"])
            if store.exists(name):
                if apply:
                    store.delete(name)
                report.landed_blobs_removed += 1
        report.rows_deleted[LANDING] = len(old)
        touched.add(LANDING)
    for name in gov.labelled_tables():
        if name in (curated.SEGMENTS.name, curated.VAULT.name, LANDING):
            continue
        defn = gov.tables.definition(name)
        if "segment_id" not in {c.name for c in defn.columns}:
            continue
        # Sealed columns live in vault blocks and go by their own labels (below); a row goes with
        # the labels of what it holds itself.
        row_labels = frozenset().union(*(c.labels for c in defn.plain)) | defn.inherited
        gone = expired(reg.retention_days(row_labels))
        if gone:
            n = gov.tables.scan(name, ["segment_id"], isin("segment_id", gone)).num_rows
            if n:
                if apply:
                    gov.tables.delete_rows(name, isin("segment_id", gone))
                report.rows_deleted[name] = n
                touched.add(name)
    # Sealed values by their own label: some (AI prompts) are kept less long than their rows.
    vault = gov.tables.scan(curated.VAULT.name, ["table_name", "column_name", "label", "segment_id"])
    by_label: dict[str, set[tuple[str, str]]] = {}
    for t, c, label in set(zip(vault.column("table_name").to_pylist(), vault.column("column_name").to_pylist(),
                               vault.column("label").to_pylist(), strict=True)):
        by_label.setdefault(label, set()).add((t, c))
    for label, columns in by_label.items():
        gone = expired(reg.labels[label].retention_days if label in reg.labels else 0)
        if not gone:
            continue
        for t, c in sorted(columns):
            flt = both(both(eq("table_name", t), eq("column_name", c)), isin("segment_id", gone))
            n = gov.tables.scan(curated.VAULT.name, ["segment_id"], flt).num_rows
            if n:
                if apply:
                    gov.tables.delete_rows(curated.VAULT.name, flt)
                report.vault_blocks_deleted += n
                touched.add(curated.VAULT.name)
    store = gov.storage.object_store
    for seg_id in expired(reg.labels["screen_content"].retention_days):
        subject = next(s["subject"] for s in segs if s["segment_id"] == seg_id)
        blob = gov.tables.media_name(subject, seg_id)
        if store.exists(blob):
            if apply:
                store.delete(blob)
            report.media_removed += 1
    gone = expired(reg.retention_days(curated.SEGMENTS.labels))
    if gone:
        if apply:
            gov.tables.delete_rows(curated.SEGMENTS.name, isin("segment_id", gone))
        report.rows_deleted[curated.SEGMENTS.name] = len(gone)
        touched.add(curated.SEGMENTS.name)
    for name in sorted(touched) if apply else ():
        report.files_removed += gov.tables.expire_and_purge(name)
    gov.audit([gov._record(by, "retention" if apply else "retention.simulate", "table:*", "processing", True,
                           ("retention",),
                           detail={"now": now.isoformat(), "rows": sum(report.rows_deleted.values()),
                                   "blocks": report.vault_blocks_deleted, "media": report.media_removed,
                                   "files": report.files_removed})])
    return report
