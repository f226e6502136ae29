"""The dataset registry: every dataset built from the lake, where it lies and whose data each file holds.

Governance state (curated zone), reached only through ``jobshadow.govern``, every change audited.
A build is registered before its files move into place: its absolute location, format, purpose,
the principal that built it and when, and — per file, per task and per source segment — which
subjects (pseudonyms) it holds. The files name no one; this mapping is the only link from a row
of a training dataset to a person, and it never leaves the registry.

Erasure (``erase``) reaches every dataset that holds an erased subject:

* the folder and every registered file are where the build put them, and writable: the format's
  rewriter writes the dataset without the person into a staging folder beside it, everything is
  fsynced, and two renames put it in place. Each phase is journalled here (``rewriting``,
  ``swapping``), so the next erasure removes half a staging folder or finishes a swap that a
  crash interrupted; the location never holds a half-rewritten dataset;
* registered files missing (moved away), or the rewrite failing: the dataset is withdrawn (its
  folder removed) and the missing files that held the person are named as residual;
* the folder gone, or not writable: nothing can be done from here; it is named as residual and
  every later erasure tries again.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Column, Float, Index, MetaData, String, Table, Text, delete, insert, select, update

from jobshadow.errors import ConfigError

if TYPE_CHECKING:
    from jobshadow.govern.door import Governance

metadata = MetaData()

builds = Table(
    "dataset_builds", metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("location", Text, nullable=False),  # absolute path of the dataset folder
    Column("format", String(16), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("principal", String(320), nullable=False),  # who built it
    Column("lake_table", String(200)),
    Column("export_id", String(16), nullable=False),  # its row in `exports` (the exposure scan checks modes)
    Column("built_at", Float, nullable=False),
    Column("state", String(16), nullable=False),
    Column("pending", Text),  # JSON journal of an unfinished build or rewrite
    Column("history", Text, nullable=False),  # JSON list: rewrites, withdrawals, failed attempts
)

holdings = Table(
    "dataset_holdings", metadata,
    Column("dataset_id", String(16), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("kind", String(8), nullable=False),  # file (relative path), task (task id), segment (segment id)
    Column("ref", Text, nullable=False),
    Index("ix_dataset_holdings_subject", "subject"),
    Index("ix_dataset_holdings_dataset", "dataset_id"),
)

BUILDING, ACTIVE, REWRITING, SWAPPING = "building", "active", "rewriting", "swapping"
WITHDRAWN, UNREACHABLE = "withdrawn", "unreachable"
REGISTRY_POLICY = ("dataset-registry",)


class Rewriter(Protocol):
    """Writes the dataset at ``source`` into the empty folder ``staging`` without the given tasks
    and segments, adding ``note`` (when, why) to its card; returns what it removed (counts).
    Called on the erasure's thread; may raise, in which case the dataset is withdrawn instead."""

    def __call__(self, source: Path, staging: Path, drop_tasks: frozenset[str], drop_segments: frozenset[str],
                 note: Mapping[str, str]) -> dict[str, int]: ...


def default_rewriter() -> Rewriter:
    # The formats belong to the dataset builder; the registry only orchestrates. Imported on use,
    # so that governance does not load the builder unless a dataset has to be rewritten.
    from jobshadow.datasets.rewrite import rewrite_dataset

    return rewrite_dataset


@dataclass(frozen=True)
class BuildRecord:
    """What a build tells the registry; subjects are found here, from the segments."""

    name: str
    location: Path
    fmt: str
    purpose: str
    principal: str
    lake_table: str | None
    labels: list[str]
    files: Mapping[str, frozenset[str]]  # relative path -> task ids with rows in it
    tasks: Mapping[str, frozenset[str]]  # task id -> source segments
    shared: tuple[str, ...] = ()  # files about every task (card, manifest)


@dataclass(frozen=True)
class DatasetEntry:
    id: str
    name: str
    location: str
    format: str
    purpose: str
    principal: str
    lake_table: str | None
    built_at: float
    state: str
    pending: dict[str, Any] | None
    history: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "location": self.location, "format": self.format,
                "purpose": self.purpose, "built_by": self.principal, "lake_table": self.lake_table,
                "built_at": datetime.fromtimestamp(self.built_at, UTC).isoformat(timespec="seconds"),
                "state": self.state, "history": self.history}


@dataclass
class DatasetOutcome:
    """What an erasure did to one dataset: rewritten, withdrawn, or unreachable (with why)."""

    dataset: str
    location: str
    action: str
    detail: str
    removed: dict[str, int] = field(default_factory=dict)
    residual: list[str] = field(default_factory=list)


def _entry(row: Any) -> DatasetEntry:
    return DatasetEntry(row.id, row.name, row.location, row.format, row.purpose, row.principal, row.lake_table,
                        row.built_at, row.state, json.loads(row.pending) if row.pending else None,
                        json.loads(row.history))


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class DatasetRegistry:
    """The registry over the governance state's database. Not thread-safe; one per command."""

    def __init__(self, gov: Governance) -> None:
        self.gov = gov
        self.engine = gov.state.engine
        metadata.create_all(self.engine)

    # --- builds -----------------------------------------------------------------------------------
    def register(self, record: BuildRecord, *, staging: Path) -> str:
        """Register a build whose files are complete in ``staging`` and about to move into place."""
        subject_of = {seg: subj for seg, subj, _ in self.gov._segment_purposes()}
        rows: set[tuple[str, str, str]] = set()
        task_subjects: dict[str, set[str]] = {}
        for task, segments in record.tasks.items():
            subjects = {subject_of[s] for s in segments if s in subject_of}
            if not subjects:
                raise ConfigError(f"task {task} of {record.name} comes from no segment the lake holds; it could not "
                                  "be erased later, so the dataset is not built")
            task_subjects[task] = subjects
            rows |= {(s, "task", task) for s in subjects}
            rows |= {(subject_of[seg], "segment", seg) for seg in segments if seg in subject_of}
        everyone = set().union(*task_subjects.values()) if task_subjects else set()
        erased = everyone - self.gov.keys.available(sorted(everyone))
        if erased:  # erased while the build ran: its rows were read before; they must not land
            raise ConfigError(f"{len(erased)} person(s) in {record.name} were erased during the build; build it again")
        for path, tasks in record.files.items():
            rows |= {(s, "file", path) for t in tasks for s in task_subjects.get(t, ())}
        rows |= {(s, "file", path) for path in record.shared for s in everyone}
        location = str(record.location)
        self.gov.audit([self.gov._record(record.principal, "export", f"dataset:{record.name}", record.purpose, True,
                                         REGISTRY_POLICY, "dataset registered",
                                         detail={"location": location, "format": record.fmt,
                                                 "files": len(record.files), "tasks": len(record.tasks),
                                                 "subjects": len(everyone)})]
                       # One record per person, so `subject export` names the dataset among the recipients.
                       + [self.gov._record(record.principal, "export", f"dataset:{record.name}", record.purpose,
                                           True, REGISTRY_POLICY, "dataset registered", subject=s,
                                           detail={"tasks": sum(s in v for v in task_subjects.values())})
                          for s in sorted(everyone)])
        export_id = self.gov.state.record_export("dataset", location, record.principal, record.purpose, record.labels)
        dataset_id = secrets.token_hex(6)
        with self.engine.begin() as c:
            c.execute(insert(builds).values(
                id=dataset_id, name=record.name, location=location, format=record.fmt, purpose=record.purpose,
                principal=record.principal, lake_table=record.lake_table, export_id=export_id, built_at=time.time(),
                state=BUILDING, pending=json.dumps({"staging": str(staging)}), history="[]"))
            if rows:
                c.execute(insert(holdings), [{"dataset_id": dataset_id, "subject": s, "kind": k, "ref": r}
                                             for s, k, r in sorted(rows)])
        return dataset_id

    def activate(self, dataset_id: str) -> None:
        """The build's files are in place."""
        self.set_state(dataset_id, ACTIVE, None)

    def abandon(self, dataset_id: str, why: str) -> None:
        """The build stopped before its files were in place: nothing of it is on disk."""
        self.set_state(dataset_id, WITHDRAWN, None, {"at": now(), "action": "withdrawn", "reason": why, "missing": []})

    def entries(self) -> list[DatasetEntry]:
        with self.engine.connect() as c:
            rows = c.execute(select(builds).order_by(builds.c.built_at)).all()
        return [_entry(r) for r in rows]

    def holding(self, subject: str) -> list[DatasetEntry]:
        """Datasets registered as holding (or having held) ``subject``'s data."""
        with self.engine.connect() as c:
            ids = {r.dataset_id for r in c.execute(select(holdings.c.dataset_id).where(holdings.c.subject == subject))}
        return [e for e in self.entries() if e.id in ids]

    def files_of(self, dataset_id: str) -> set[str]:
        with self.engine.connect() as c:
            return {r.ref for r in c.execute(select(holdings.c.ref).where(holdings.c.dataset_id == dataset_id,
                                                                        holdings.c.kind == "file"))}

    def holdings_of(self, dataset_id: str, subjects: Iterable[str]) -> dict[str, dict[str, set[str]]]:
        out: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        with self.engine.connect() as c:
            for r in c.execute(select(holdings).where(holdings.c.dataset_id == dataset_id,
                                                      holdings.c.subject.in_(sorted(subjects)))):
                out[r.subject][r.kind].add(r.ref)
        return out

    def set_state(self, dataset_id: str, state: str, pending: dict[str, Any] | None,
                  event: dict[str, Any] | None = None) -> None:
        """The dataset's state and journal, with ``event`` appended to its history, in one commit."""
        values: dict[str, Any] = {"state": state, "pending": json.dumps(pending) if pending is not None else None}
        with self.engine.begin() as c:
            if event is not None:
                row = c.execute(select(builds.c.history).where(builds.c.id == dataset_id)).one()
                values["history"] = json.dumps([*json.loads(row.history), event])
            c.execute(update(builds).where(builds.c.id == dataset_id).values(**values))

    # --- erasure ----------------------------------------------------------------------------------
    def erase(self, subject: str, by: str, rewriter: Rewriter | None = None) -> list[DatasetOutcome]:
        """Reach every dataset holding ``subject`` — or any subject erased before whose removal did
        not finish — and rewrite, withdraw or report it (see the module docstring)."""
        from jobshadow.govern.dataset_erasure import Eraser  # it imports this module

        # One erasure at a time on this host: another would take this one's journalled staging
        # folder for a crash's leftovers. (Erasures run from the admin CLI on the server host.)
        lock = self.gov.storage.paths.root / "dataset-erasure.lock"
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            erased = {s for s, alive in self.gov.keys.subjects() if not alive} | {subject}
            return Eraser(self, by, rewriter or default_rewriter()).run(subject, erased)
        finally:
            os.close(fd)  # closing releases the lock

    def forget(self, dataset_id: str, subjects: Iterable[str]) -> None:
        """Their data is no longer in the dataset: drop what the registry knew of it."""
        with self.engine.begin() as c:
            c.execute(delete(holdings).where(holdings.c.dataset_id == dataset_id,
                                             holdings.c.subject.in_(sorted(subjects))))
