"""Subject rights: erasure and access (export) across every table, derived ones included (curated zone).

Erasure is crypto-shredding first: destroying the subject's data key makes every sealed value
and media blob of theirs unreadable at once, in every table and every copy (snapshots, derived
datasets, backups of the warehouse). The landed segments still waiting for curation are sealed
to the landing key, not the subject's, so they are deleted in the same first step. Then rows are
deleted from every table with a ``subject`` column, old snapshots expired and unreferenced files
removed, so nothing of the person remains even in ciphertext. Datasets built before hold the
person's data in clear, beyond the reach of their key: each one the dataset registry names is
rewritten without them, or withdrawn (``jobshadow.govern.dataset_registry``), and whatever could
not be reached (a folder moved or not writable, files moved out of it) is named in ``residual``.

The person's part in the programme ends in the same first step: every device of theirs revoked
(capture stops), consent recorded as withdrawn, open enrolment codes dropped, and the link from
their e-mail address to their person id removed, unless a legal hold on the subject keeps it.

Export gathers everything held about a subject, decrypted, with the purposes each kind of data
may serve, who read it for which purpose (from the audit log) and how long it is kept.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobshadow.errors import ConfigError
from jobshadow.govern.dataset_registry import WITHDRAWN, DatasetRegistry
from jobshadow.govern.expr import eq
from jobshadow.govern.keys import KeyUnavailable
from jobshadow.govern.purposes import registry
from jobshadow.lake import curated

if TYPE_CHECKING:
    from jobshadow.govern.dataset_registry import Rewriter
    from jobshadow.govern.door import Governance

LANDING = "landing.segments"


@dataclass
class ErasureReport:
    subject: str
    key_destroyed: bool
    unreadable_after_s: float
    landed_blobs_removed: int = 0
    devices_revoked: int = 0
    identity_link_removed: bool = False
    legal_hold: bool = False
    rows_deleted: dict[str, int] = field(default_factory=dict)
    files_removed: int = 0
    media_removed: int = 0
    datasets: list[dict[str, Any]] = field(default_factory=list)  # each one rewritten, withdrawn or unreachable
    total_s: float = 0.0
    residual: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def resolve_subject(gov: Governance, who: str) -> str:
    """A subject id from a subject id (``s_…``) or a control-plane person id."""
    if who.startswith("s_"):
        if gov.keys.person_of(who) is None:
            raise ConfigError(f"no subject {who!r}")
        return who
    subject = gov.keys.pseudonym(who)
    if gov.keys.person_of(subject) is None:
        raise ConfigError(f"no data is held about {who!r}")
    return subject


def _subject_tables(gov: Governance) -> list[str]:
    return [n for n in gov.labelled_tables()
            if "subject" in {c.name for c in gov.tables.definition(n).columns}]


def erase_subject(gov: Governance, subject: str, by: str, rewriter: Rewriter | None = None) -> ErasureReport:
    t0 = time.perf_counter()
    person = gov.keys.person_of(subject)
    if person is None:
        raise ConfigError(f"no subject {subject!r}")
    gov.audit([gov._record(by, "erase", f"subject:{subject}", "subject_access", True, ("subject-rights",),
                           "erasure requested", subject=subject)])
    destroyed = gov.keys.destroy(subject)
    # Their part in the programme ends with the same request: devices revoked (capture stops),
    # consent recorded as withdrawn, and the e-mail → person link gone unless a legal hold keeps it.
    held = gov.duties.held(subject)
    ended = gov.people.end_participation(person, keep_link=held)
    store = gov.storage.object_store
    landed = gov.tables.scan(LANDING, ["blob_uri"], eq("person_id", person))
    blobs = 0
    for uri in landed.column("blob_uri").to_pylist():
        name = store.name_of(uri)
        if store.exists(name):
            store.delete(name)
            blobs += 1
    report = ErasureReport(subject, destroyed, time.perf_counter() - t0, blobs,
                           devices_revoked=ended["devices_revoked"], identity_link_removed=not held, legal_hold=held)
    # Everything below removes ciphertext nobody can open any more.
    for name in _subject_tables(gov):
        n = gov.tables.scan(name, ["subject"], eq("subject", subject)).num_rows
        if n:
            gov.tables.delete_rows(name, eq("subject", subject))
            report.rows_deleted[name] = n
    n = gov.tables.scan(LANDING, ["person_id"], eq("person_id", person)).num_rows
    if n:
        gov.tables.delete_rows(LANDING, eq("person_id", person))
        report.rows_deleted[LANDING] = n
    for name in report.rows_deleted:
        report.files_removed += gov.tables.expire_and_purge(name)
    for blob in store.list(f"curated/media/{subject}"):
        store.delete(blob)
        report.media_removed += 1
    registry = DatasetRegistry(gov)
    dataset_residual = []
    for outcome in registry.erase(subject, by, rewriter):
        report.datasets.append({"dataset": outcome.dataset, "location": outcome.location, "action": outcome.action,
                                "detail": outcome.detail, "removed": outcome.removed})
        dataset_residual += outcome.residual
    report.residual = _residual(gov, subject, person) + dataset_residual
    named = {d["dataset"] for d in report.datasets}
    # Belt and braces: a dataset still registered as holding the person must be named.
    report.residual += [f"dataset {e.name} at {e.location} is still registered as holding the person ({e.state})"
                        for e in registry.holding(subject) if e.state != WITHDRAWN and e.name not in named]
    report.total_s = time.perf_counter() - t0
    gov.audit([gov._record(by, "erase", f"subject:{subject}", "subject_access", True, ("subject-rights",),
                           "erasure completed", subject=subject,
                           detail={"rows": sum(report.rows_deleted.values()), "files": report.files_removed,
                                   "media": report.media_removed, "landed": blobs,
                                   "datasets": len(report.datasets), "residual": len(report.residual),
                                   "devices_revoked": report.devices_revoked, "legal_hold": int(held)})])
    return report


def _residual(gov: Governance, subject: str, person: str) -> list[str]:
    """Anything of the subject still present (should be empty)."""
    left = []
    for name in _subject_tables(gov):
        if gov.tables.scan(name, ["subject"], eq("subject", subject)).num_rows:
            left.append(f"rows in {name}")
    if gov.tables.scan(LANDING, ["person_id"], eq("person_id", person)).num_rows:
        left.append(f"rows in {LANDING}")
    if gov.storage.object_store.list(f"curated/media/{subject}"):
        left.append("media blobs")
    try:
        gov.keys.dek(subject)
        left.append("data key")
    except KeyUnavailable:
        pass
    return left


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def export_subject(gov: Governance, subject: str, out: Path, by: str) -> dict[str, Any]:
    """Write everything held about ``subject`` under ``out`` (0700) and return the manifest."""
    if gov.keys.person_of(subject) is None:
        raise ConfigError(f"no subject {subject!r}")
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise ConfigError(f"{out} is not empty; export into a new folder")
    (out / "tables").mkdir(mode=0o700)
    reg = registry()
    try:
        gov.keys.dek(subject)
        erased = False
    except KeyUnavailable:
        erased = True
    tables: dict[str, Any] = {}
    for name in _subject_tables(gov):
        if name == curated.VAULT.name:
            continue  # its blocks are the sealed values, exported decrypted with their tables
        defn = gov.tables.definition(name)
        data = gov.tables.scan(name, None, eq("subject", subject), decrypt={c.name for c in defn.sealed})
        if data.num_rows == 0:
            continue
        path = out / "tables" / f"{name}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for row in data.to_pylist():
                fh.write(json.dumps({k: _jsonable(v) for k, v in row.items()}, ensure_ascii=False) + "\n")
        path.chmod(0o600)
        tables[name] = {
            "rows": data.num_rows,
            "file": f"tables/{name}.jsonl",
            "derived_from": gov.lineage(name),
            "columns": {c.name: {"labels": sorted(c.labels),
                                 "purposes": sorted(reg.allowed_purposes(c.labels)),
                                 "retention_days": reg.retention_days(c.labels)} for c in defn.columns},
        }
    media = []
    if not erased:
        (out / "media").mkdir(mode=0o700)
        for blob in gov.storage.object_store.list(f"curated/media/{subject}"):
            segment = blob.rsplit("/", 1)[1].removesuffix(".h264.sealed")
            path = out / "media" / f"{segment}.h264"
            path.write_bytes(gov.tables.get_media(subject, segment))
            path.chmod(0o600)
            media.append(f"media/{segment}.h264")
    segments = gov.tables.scan(curated.SEGMENTS.name, ["segment_id", "scope_name", "purposes", "retention_days"],
                               eq("subject", subject)).to_pylist()
    recipients: Counter[tuple[str, str, str]] = Counter()
    first_last: dict[tuple[str, str, str], list[str]] = {}
    for _idx, rec in gov.audit_records(subject=subject):
        if rec.decision != "allow" or rec.action not in ("read", "export"):
            continue
        key = (rec.principal, rec.purpose, rec.resource.removeprefix("table:"))
        recipients[key] += 1
        span = first_last.setdefault(key, [rec.time, rec.time])
        span[1] = rec.time
    manifest = {
        "subject": subject,
        "erased": erased,
        "consent": gov.consent_of_subject(subject),
        "generated_by": by,
        "tables": tables,
        "media": media,
        # Dataset files name no one; the registry knows which hold this person's data, and where.
        "datasets": [e.as_json() for e in DatasetRegistry(gov).holding(subject)],
        "collection": [{"segment_id": s["segment_id"], "scope": s["scope_name"], "purposes": s["purposes"],
                        "retention_days": s["retention_days"]} for s in segments],
        "recipients": [{"principal": p, "purpose": pu, "table": t, "reads": n, "first": first_last[(p, pu, t)][0],
                        "last": first_last[(p, pu, t)][1]} for (p, pu, t), n in sorted(recipients.items())],
        "labels": {k: {"description": v.description, "purposes": sorted(v.purposes),
                       "retention_days": v.retention_days} for k, v in reg.labels.items()},
    }
    path = out / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str))
    path.chmod(0o600)
    labels = sorted({x for t in tables.values() for c in t["columns"].values() for x in c["labels"]})
    gov.state.record_export("subject_export", str(out.resolve()), by, "subject_access", labels)
    gov.audit([gov._record(by, "export", f"subject:{subject}", "subject_access", True, ("subject-rights",),
                           "subject access export", subject=subject,
                           detail={"tables": len(tables), "rows": sum(t["rows"] for t in tables.values())})])
    return manifest
