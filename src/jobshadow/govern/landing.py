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
from typing import Any

from jobshadow.govern.storage import Storage
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
                props = {"jobshadow.labels": ",".join(table_def.TABLE_LABELS), "jobshadow.zone": "landing"}
                props.update({f"jobshadow.column-labels.{k}": v for k, v in table_def.COLUMN_LABELS.items()})
                self._table = cat.create_table_if_not_exists(table_def.TABLE, schema=table_def.SCHEMA,
                                                             properties=props)
            return self._table

    def refresh(self) -> Any:
        """Reload the table's current metadata (another process or thread may have committed)."""
        _ = self.table  # creates the table on first use
        with self._lock:
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
        t = self.refresh()  # another process (the admin CLI) may have committed since
        data = table_def.to_arrow([{**r, "batch_id": batch_id} for r in rows])
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
            t = self.refresh()
            try:
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
        rows: list[dict[str, Any]] = self.refresh().scan().to_arrow().to_pylist()
        return rows


class Committer:
    """Collects landed rows and commits them in micro-batches on its own thread.

    ``submit`` returns a future resolved once the row's batch is committed (or failed).
    ``on_batch(batch_id, rows)`` runs *before* the Iceberg append and must record the batch id
    durably: after a crash between the append and ``on_committed``, recovery looks the id up in
    the table's snapshots instead of appending the rows a second time.
    ``on_committed(batch_id, rows)`` runs after the append, before the futures resolve, so the
    caller records durability before acknowledging.
    """

    def __init__(self, zone: LandingZone, interval: float,
                 on_committed: Callable[[str, list[dict[str, Any]]], None],
                 on_batch: Callable[[str, list[dict[str, Any]]], None]) -> None:
        self.zone = zone
        self.interval = interval
        self.on_committed = on_committed
        self.on_batch = on_batch
        self._pending: list[tuple[dict[str, Any], concurrent.futures.Future[str]]] = []
        self._cv = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="landing-committer", daemon=True)
        self.commits = 0
        self.rows = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join(timeout)

    def submit(self, row: dict[str, Any]) -> concurrent.futures.Future[str]:
        fut: concurrent.futures.Future[str] = concurrent.futures.Future()
        with self._cv:
            self._pending.append((row, fut))
            self._cv.notify()
        return fut

    def commit_now(self, rows: list[dict[str, Any]], batch_id: str | None = None) -> str:
        """Commit synchronously (recovery at start-up); idempotent by batch id."""
        if batch_id is None:
            batch_id = uuid.uuid4().hex
            self.on_batch(batch_id, rows)
        if batch_id not in self.zone.committed_batches():
            self.zone.append(rows, batch_id)
        self.on_committed(batch_id, rows)
        return batch_id

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._pending and not self._stop:
                    self._cv.wait()
                if self._stop and not self._pending:
                    return
            time.sleep(self.interval)  # let concurrent completions join this batch
            with self._cv:
                batch, self._pending = self._pending, []
            rows = [r for r, _ in batch]
            batch_id = uuid.uuid4().hex
            try:
                self.on_batch(batch_id, rows)
            except Exception:
                log.exception("could not record the landing batch; failing it")
                for _, fut in batch:
                    fut.set_exception(RuntimeError("landing commit failed"))
                continue
            for attempt in range(5):
                try:
                    self.zone.append(rows, batch_id)
                    self.on_committed(batch_id, rows)
                except Exception as exc:  # thread boundary: the catalog or the disk failed
                    log.warning("landing commit failed (attempt %d): %s", attempt + 1, type(exc).__name__)
                    time.sleep(0.2 * (attempt + 1))
                    try:
                        if batch_id in self.zone.committed_batches():
                            self.on_committed(batch_id, rows)
                            break
                    except Exception:
                        log.debug("could not check committed batches", exc_info=True)
                    continue
                break
            else:
                for _, fut in batch:
                    fut.set_exception(RuntimeError("landing commit failed"))
                continue
            self.commits += 1
            self.rows += len(rows)
            for _, fut in batch:
                fut.set_result(batch_id)
