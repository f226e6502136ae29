"""The landing zone: sealed blobs in the object store plus the Iceberg landing table.

Landed data is quarantined from the curated lake: blobs stay sealed to the landing key, and the
table holds metadata only. Rows are committed in micro-batches (one Iceberg commit covers every
segment that completed within ``interval``); each commit carries its batch id in the snapshot
summary, so after a crash a batch is never committed twice — the committer first looks for its id
among the table's snapshots.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobshadow.govern.locks import TableLocks
from jobshadow.govern.storage import Storage, drop_cached
from jobshadow.lake import landing as table_def

log = logging.getLogger(__name__)


class LandingZone:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._lock = threading.Lock()
        self._table: Any = None

    @property
    def table(self) -> Any:
        with self._lock:
            if self._table is None:
                cat = self.storage.catalog
                cat.create_namespace_if_not_exists(table_def.NAMESPACE)
                props = {"jobshadow.labels": ",".join(sorted(table_def.TABLE_LABELS)), "jobshadow.zone": "landing",
                         "comment": "landed segments (metadata; the segments stay sealed in the object store)"}
                for col, label in table_def.COLUMN_LABELS.items():
                    props[f"jobshadow.column.{col}.labels"] = label
                    props[f"jobshadow.column.{col}.sealed"] = "false"
                    props[f"jobshadow.column.{col}.type"] = table_def.ARROW_TYPES.get(col, "string")
                table = cat.create_table_if_not_exists(table_def.TABLE, schema=table_def.SCHEMA, properties=props)
                self._table = _evolve(table, props, self.storage.table_locks)
            return self._table

    # --- the landing key and blobs (devices seal uploads to the key; only this zone opens them) ----
    @property
    def public_key(self) -> bytes:
        return self.storage.landing_recipient.public_raw

    def key_for(self, header: Any) -> bytes:
        """The landing key's stream master for a sealed upload's header (SealedReader's opener)."""
        return self.storage.landing_recipient.master_for(header)

    def store_blob(self, local: Path, name: str, fd: int | None = None) -> str:
        """Keep a verified, still-sealed upload in the object store; returns its URI.

        ``local`` is a staged upload that is fsynced and never written again, so a local store
        links it rather than copying it; ``fd`` (open on it) then has its pages dropped from the
        cache, as the blob's own are (see ``ObjectStore.put_file``).
        """
        uri = self.storage.object_store.put_file(local, name, immutable=True)
        if fd is not None:
            drop_cached(fd)
        return uri

    def store_blob_bytes(self, data: bytes, name: str) -> str:
        """Keep a verified, still-sealed upload received in one request; returns its URI."""
        return self.storage.object_store.put_bytes(data, name)

    def delete_blob(self, name: str) -> None:
        self.storage.object_store.delete(name)

    def refresh(self) -> Any:
        """Reload the table's current metadata (another process or thread may have committed)."""
        _ = self.table  # creates the table on first use
        with self._lock, self.storage.table_locks.shared(table_def.TABLE):
            self._table = self.storage.catalog.load_table(table_def.TABLE)
            return self._table

    def committed_batches(self) -> set[str]:
        t = self.refresh()
        out = set()
        for snap in t.snapshots():
            bid = dict(snap.summary.additional_properties).get("jobshadow.batch-id") if snap.summary else None
            if bid:
                out.add(bid)
        return out

    def append(self, rows: list[dict[str, Any]], batch_id: str) -> None:
        from pyiceberg.exceptions import CommitFailedException

        data = table_def.to_arrow([{**r, "batch_id": batch_id} for r in rows])
        t = self.table
        # Shared with other commits and scans, never with a purge (erasure, retention): the files
        # this append writes are referenced before anything may remove unreferenced ones.
        with self.storage.table_locks.shared(table_def.TABLE):
            try:
                # The catalog applies the append to the table's *current* metadata and refuses it
                # (CommitFailedException, nothing written) if the branch moved since ``t`` was
                # loaded, so a table loaded before another process's commit is safe to start from.
                t.append(data.cast(t.schema().as_arrow()), snapshot_properties={"jobshadow.batch-id": batch_id})
            except CommitFailedException:
                t = self.refresh()  # another process (the door: curation, erasure) committed since
                t.append(data.cast(t.schema().as_arrow()), snapshot_properties={"jobshadow.batch-id": batch_id})

    def set_quarantined(self, quarantined: bool, reason: str) -> None:
        """Mark the whole landing zone quarantined (kill switch) or not.

        Iceberg commits are optimistic: a concurrent append (the committer) or another process's
        change makes this one fail, so it reloads the table and tries again.
        """
        from pyiceberg.exceptions import CommitFailedException

        props = {"jobshadow.quarantined": "true" if quarantined else "false",
                 "jobshadow.quarantine-reason": reason if quarantined else ""}
        for attempt in range(20):
            try:
                with self.storage.table_locks.shared(table_def.TABLE):
                    t = self.refresh()
                    with t.transaction() as tx:
                        tx.set_properties(props)
                break
            except CommitFailedException:
                time.sleep(0.05 * (attempt + 1))
        else:
            raise RuntimeError("could not update the landing table's quarantine flag")
        self.refresh()

    def quarantined(self) -> bool:
        return bool(self.refresh().properties.get("jobshadow.quarantined") == "true")

    def scan_rows(self) -> list[dict[str, Any]]:
        with self.storage.table_locks.shared(table_def.TABLE):
            rows: list[dict[str, Any]] = self.refresh().scan().to_arrow().to_pylist()
        return rows


def _evolve(table: Any, props: dict[str, str], locks: TableLocks) -> Any:
    """Bring an existing landing table up to the current definition (schema evolution).

    New optional columns are added, missing label properties set; nothing is dropped or renamed.
    """
    have = {f.name for f in table.schema().fields}
    missing = [f for f in table_def.SCHEMA.fields if f.name not in have]
    stale = {k: v for k, v in props.items() if table.properties.get(k) != v}
    if not missing and not stale:
        return table
    with locks.shared(table_def.TABLE):
        if missing:
            with table.update_schema() as update:
                for f in missing:
                    update.add_column(f.name, f.field_type, doc=f.doc)
        if stale:
            with table.transaction() as tx:
                tx.set_properties(stale)
    return table


class Committer:
    """Collects landed rows and commits them in micro-batches on its own thread.

    ``submit`` returns a future resolved once the row's batch is committed (or failed).
    ``on_batch(batch_id, rows)`` runs *before* the Iceberg append and must record the batch id
    durably: after a crash between the append and ``on_committed``, recovery looks the id up in
    the table's snapshots instead of appending the rows a second time. It returns the rows to
    append (``None``: all of them); a row it leaves out (already in the table: a retried
    completion whose earlier commit went through) resolves as committed without a second append.
    ``on_committed(batch_id, rows)`` runs after the append, before the futures resolve, so the
    caller records durability before acknowledging; it gets every row of the batch.

    A batch closes ``interval`` after its *first* row arrived (rows that queued up while the
    previous commit ran do not wait another interval after it), or at once when ``max_rows`` are
    waiting. One bound more: the committer is busy at most ``max_busy`` of the time. An Iceberg
    commit costs tens of milliseconds of CPU whatever its size (more as the table's snapshot list
    grows), so when commits get slow, under load, the next batch waits ``(1/max_busy - 1)`` times
    the last commit's duration after it and takes in more rows: fewer, larger commits leave the
    CPU to the uploads; a lone segment still waits about ``interval``.
    """

    def __init__(self, zone: LandingZone, interval: float,
                 on_committed: Callable[[str, list[dict[str, Any]]], None],
                 on_batch: Callable[[str, list[dict[str, Any]]], list[dict[str, Any]] | None],
                 max_rows: int = 2000, max_busy: float = 0.25) -> None:
        self.zone = zone
        self.interval = interval
        self.max_rows = max_rows
        self.max_busy = max_busy
        self._not_before = 0.0  # monotonic time before which no batch closes (the busy bound)
        self.on_committed = on_committed
        self.on_batch = on_batch
        self._pending: list[tuple[dict[str, Any], concurrent.futures.Future[str], float]] = []
        self._cv = threading.Condition()
        self._stop = False
        self._abandoned = False
        self._thread = threading.Thread(target=self._run, name="landing-committer", daemon=True)
        self.commits = 0
        self.rows = 0
        self.busy_s = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        """Whether the committer thread may still append (started and not finished)."""
        return self._thread.is_alive()

    def submit(self, row: dict[str, Any]) -> concurrent.futures.Future[str]:
        fut: concurrent.futures.Future[str] = concurrent.futures.Future()
        with self._cv:
            if self._abandoned:
                fut.set_exception(RuntimeError("landing commit failed"))
                return fut
            self._pending.append((row, fut, time.monotonic()))
            if len(self._pending) == 1 or len(self._pending) >= self.max_rows:
                self._cv.notify()
        return fut

    def abandon(self) -> None:
        """Fail every row waiting for a batch (a committer that will never run its thread)."""
        with self._cv:
            self._abandoned = True  # and so is anything submitted from now on
            pending, self._pending = self._pending, []
        for _, fut, _ in pending:
            fut.set_exception(RuntimeError("landing commit failed"))

    def commit_now(self, rows: list[dict[str, Any]], batch_id: str | None = None) -> str:
        """Commit synchronously (recovery at start-up); idempotent by batch id."""
        if batch_id is None:
            batch_id = uuid.uuid4().hex
            to_append = self.on_batch(batch_id, rows)
            rows_to_append = rows if to_append is None else to_append
        else:
            rows_to_append = rows
        if rows_to_append and batch_id not in self.zone.committed_batches():
            self.zone.append(rows_to_append, batch_id)
        self.on_committed(batch_id, rows)
        return batch_id

    def _next_batch(self) -> list[tuple[dict[str, Any], concurrent.futures.Future[str], float]] | None:
        """Wait for a batch to close; None once stopped with nothing pending."""
        with self._cv:
            while True:
                if not self._pending:
                    if self._stop:
                        return None
                    self._cv.wait()
                    continue
                due = max(self._pending[0][2] + self.interval, self._not_before) - time.monotonic()
                if due <= 0 or self._stop or len(self._pending) >= self.max_rows:
                    batch, self._pending = self._pending[:self.max_rows], self._pending[self.max_rows:]
                    return batch
                self._cv.wait(due)

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            started = time.monotonic()
            self._commit(batch)
            ended = time.monotonic()
            self.busy_s += ended - started
            self._not_before = ended + (ended - started) * (1.0 / self.max_busy - 1.0)

    def _commit(self, batch: list[tuple[dict[str, Any], concurrent.futures.Future[str], float]]) -> None:
        rows = [r for r, _, _ in batch]
        batch_id = uuid.uuid4().hex
        try:
            chosen = self.on_batch(batch_id, rows)
        except Exception:
            log.exception("could not record the landing batch; failing it")
            for _, fut, _ in batch:
                fut.set_exception(RuntimeError("landing commit failed"))
            return
        to_append = rows if chosen is None else chosen
        appended = not to_append
        for attempt in range(5):
            try:
                # After a failed attempt the append may have gone through all the same (the
                # catalog committed, then the answer was lost): look before appending again.
                if not appended and (attempt == 0 or batch_id not in self.zone.committed_batches()):
                    self.zone.append(to_append, batch_id)
                appended = True
                self.on_committed(batch_id, rows)
            except Exception as exc:  # thread boundary: the catalog or the disk failed
                log.warning("landing commit failed (attempt %d): %s", attempt + 1, type(exc).__name__)
                time.sleep(0.2 * (attempt + 1))
                continue
            break
        else:
            for _, fut, _ in batch:
                fut.set_exception(RuntimeError("landing commit failed"))
            return
        self.commits += 1 if to_append else 0
        self.rows += len(to_append)
        for _, fut, _ in batch:
            fut.set_result(batch_id)
