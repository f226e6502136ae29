"""Landing-table commits: exactly once, acknowledged only once committed (collector).

A verified upload is recorded as landed (the ``landed`` row, in the control database) before its
Iceberg commit. With several collector processes on one database, one at a time holds the commit
lease (``ingest.lease``) and appends every process's landed rows in micro-batches
(``govern.landing.Committer``); the others watch for theirs to show up as committed. Each batch
records its id before the append, so after a crash a batch found among the table's snapshots is
marked committed instead of appended twice (``recover``).
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, update

from jobshadow.config import Settings
from jobshadow.errors import RequestRejected
from jobshadow.govern import Committer, LandingZone
from jobshadow.ingest import db
from jobshadow.ingest.lease import Lease
from jobshadow.ingest.writer import GroupCommit

log = logging.getLogger(__name__)


class LandingCommits:
    """Thread-safe. ``staging(upload_id)``: the staged file an upload's commit makes redundant."""

    def __init__(self, settings: Settings, engine: Engine, writes: GroupCommit, landing: LandingZone,
                 state_dir: Path, staging: Callable[[str], Path], *, committer: bool) -> None:
        self.settings = settings
        self.engine = engine
        self.writes = writes
        self.landing = landing
        self._staging = staging
        self._committer: Committer | None = None
        # Landed rows waiting for their Iceberg commit, by content hash: a retried or concurrent
        # completion of the same content waits on the same commit instead of submitting it again.
        self._inflight: dict[str, concurrent.futures.Future[str]] = {}
        self._inflight_lock = threading.Lock()
        # With ``committer`` this process takes part in the lease; the holder commits every
        # process's landed rows, the others wait for the rows they recorded to show up as
        # committed. Without it (tools), commits are inline.
        self._lease: Lease | None = None
        self._waiting: dict[str, list[tuple[concurrent.futures.Future[dict[str, Any]], str, Any]]] = {}
        self._waiting_lock = threading.Lock()
        self._stop = threading.Event()
        self._coordinator: threading.Thread | None = None
        if committer:
            self._lease = Lease(state_dir / "committer.lock")
            self._take_lease()
            self._coordinator = threading.Thread(target=self._coordinate, name="landing-coordinator", daemon=True)
            self._coordinator.start()

    @property
    def commits_here(self) -> bool:
        """Whether this process appends landed rows to the landing table (holds the lease)."""
        return self._committer is not None

    def close(self) -> None:
        self._stop.set()
        if self._coordinator is not None:
            self._coordinator.join(10)
        committer = self._committer
        if committer is not None:
            committer.stop()
        if self._lease is not None and (committer is None or not committer.running):
            # A committer still inside an append keeps the lease until this process exits:
            # another holder's recovery must not re-append the rows it is appending.
            self._lease.release()

    def _take_lease(self) -> bool:
        assert self._lease is not None
        if self._committer is not None or not self._lease.try_acquire():
            return self._committer is not None
        committer = Committer(self.landing, self.settings.server.commit_interval_ms / 1000.0,
                              self._mark_committed, self._mark_batch)
        self._committer = committer
        try:
            self.recover()
        except BaseException:
            # The catalog or the database failed: give the lease up, so that this process or
            # another tries again, rather than hold it with a committer that never started.
            self._committer = None
            committer.abandon()  # rows submitted meanwhile: their requests answer "retry"
            self._lease.release()
            raise
        committer.start()
        log.info("this collector process commits to the landing table", extra={"fields": {"pid": os.getpid()}})
        return True

    def _coordinate(self) -> None:
        """Take over the lease when its holder is gone; settle this process's waiting uploads;
        as the holder, pick up rows recorded by other processes."""
        interval = self.settings.server.commit_interval_ms / 1000.0
        last_try = last_sweep = 0.0
        while not self._stop.wait(min(0.05, interval)):
            try:
                t = time.monotonic()
                if self._committer is None and t - last_try >= 1.0:
                    last_try = t
                    self._take_lease()
                if self._committer is not None and t - last_sweep >= interval:
                    last_sweep = t
                    self._sweep()
                self._settle_waiting()
            except Exception:  # thread boundary: the database may be briefly locked
                log.warning("landing coordination failed; retrying", exc_info=True)
                self._stop.wait(0.5)

    def _sweep(self) -> None:
        """Submit uncommitted landed rows that no request of this process submitted."""
        with self.engine.connect() as c:
            pending = c.execute(select(db.landed.c.content_hash, db.landed.c.upload_id, db.landed.c.row)
                                .where(db.landed.c.committed.is_(False)).limit(2000)).all()
        for r in pending:
            with self._inflight_lock:
                known = r.content_hash in self._inflight
            if not known:
                self.await_commit(r.content_hash, json.loads(r.row), r.upload_id)

    def _settle_waiting(self) -> None:
        """Answer uploads recorded here whose rows another process committed."""
        with self._waiting_lock:
            hashes = list(self._waiting)
        done: set[str] = set()
        for i in range(0, len(hashes), 500):
            part = hashes[i:i + 500]
            with self.engine.connect() as c:
                done.update(str(h) for (h,) in c.execute(select(db.landed.c.content_hash).where(
                    db.landed.c.content_hash.in_(part), db.landed.c.committed.is_(True))).all())
        with self._waiting_lock:
            for h in hashes:
                waiters = self._waiting.get(h, [])
                if h in done:
                    self._waiting.pop(h, None)
                else:  # a request that gave up (timed out) cancels its future
                    waiters[:] = [w for w in waiters if not w[0].cancelled()]
                    if not waiters:
                        self._waiting.pop(h, None)
                    continue
                for fut, upload_id, size in waiters:
                    if fut.set_running_or_notify_cancel():
                        fut.set_result({"upload_id": upload_id, "state": "landed", "received": size,
                                        "content_hash": h})


    def await_commit(self, content_hash: str, landed_row: dict[str, Any],
                      upload_id: str) -> concurrent.futures.Future[dict[str, Any]]:
        out: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()
        size = landed_row.get("size_bytes")
        if self._lease is None:
            self._commit_rows([landed_row])
            out.set_result({"upload_id": upload_id, "state": "landed", "received": size, "content_hash": content_hash})
            return out
        committer = self._committer
        if committer is None:
            # Another process holds the lease and commits this row; its commit is watched for.
            with self._waiting_lock:
                self._waiting.setdefault(content_hash, []).append((out, upload_id, size))
            return out
        # Concurrent or retried completions of one content share one submission. Exactly-once does
        # not rest on this map: the committer's ``_mark_batch`` leaves out rows already committed
        # (so no database read is needed here, and no lock is held across one).
        with self._inflight_lock:
            fut = self._inflight.get(content_hash)
            submitted = fut is None
            if fut is None:
                fut = self._inflight[content_hash] = committer.submit(row_for_table(landed_row))
        if submitted:
            # Outside the lock: a future already done runs its callback here, and the callback
            # takes the lock (a plain Lock: taking it twice would deadlock this thread).
            fut.add_done_callback(lambda _f: self._forget_inflight(content_hash))

        def done(f: concurrent.futures.Future[str]) -> None:
            # Runs on the committer thread: ``_mark_committed`` already marked the upload landed
            # and removed its staged bytes, so there is nothing left to write here.
            if not out.set_running_or_notify_cancel():
                return  # the request gave up waiting (its device retries)
            if f.exception() is not None:
                out.set_exception(RequestRejected(503, "commit_pending", "landing commit failed; retry",
                                                  retry_after=5))
                return
            out.set_result({"upload_id": upload_id, "state": "landed", "received": size, "content_hash": content_hash})

        fut.add_done_callback(done)
        return out

    def _forget_inflight(self, content_hash: str) -> None:
        with self._inflight_lock:
            self._inflight.pop(content_hash, None)

    def _commit_rows(self, rows: list[dict[str, Any]]) -> None:
        assert self._lease is None
        bid = uuid.uuid4().hex
        to_append = self._mark_batch(bid, rows)
        if to_append:
            self.landing.append(to_append, bid)
        self._mark_committed(bid, rows)

    def _mark_batch(self, batch_id: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Record which batch will carry these rows, before the append (see Committer).

        Returns the rows to append: each content once, as recorded in ``landed`` when it landed,
        leaving out content already committed. A row still tagged with an earlier batch whose
        outcome was never recorded (every append attempt failed, or so it seemed) is looked up
        in the table's snapshots first, and marked committed instead if that batch is there.
        """
        hashes = sorted({r["content_hash"] for r in rows})

        def read(c: Any) -> list[Any]:
            return list(c.execute(select(db.landed.c.content_hash, db.landed.c.batch_id, db.landed.c.row)
                                  .where(db.landed.c.content_hash.in_(hashes), db.landed.c.committed.is_(False)))
                        .all())

        with self.engine.connect() as c:
            pending = read(c)
        earlier = {r.batch_id for r in pending if r.batch_id}
        if earlier:
            done = earlier & self.landing.committed_batches()
            for bid in done:
                self._mark_committed(bid, [{"content_hash": r.content_hash} for r in pending if r.batch_id == bid])
            if done:
                with self.engine.connect() as c:
                    pending = read(c)
        chosen = [r.content_hash for r in pending]
        if chosen:
            # Only rows still uncommitted are tagged: a row committed since the read above keeps
            # its batch and is left out of the append by the rowcount check below.
            def tag(c: Any) -> list[str]:
                c.execute(update(db.landed).where(db.landed.c.content_hash.in_(chosen),
                                                  db.landed.c.committed.is_(False)).values(batch_id=batch_id))
                return [h for (h,) in c.execute(select(db.landed.c.content_hash).where(
                    db.landed.c.content_hash.in_(chosen), db.landed.c.batch_id == batch_id,
                    db.landed.c.committed.is_(False))).all()]

            tagged = set(self.writes.call(tag))
        else:
            tagged = set()
        return [row_for_table(json.loads(r.row)) for r in pending if r.content_hash in tagged]

    def _mark_committed(self, batch_id: str, rows: list[dict[str, Any]]) -> None:
        hashes = sorted({r["content_hash"] for r in rows})

        def mark(c: Any) -> list[str]:
            c.execute(update(db.landed).where(db.landed.c.content_hash.in_(hashes),
                                              db.landed.c.committed.is_(False)).values(
                committed=True, batch_id=batch_id))
            # Every open upload of this content is done: the one that landed it, and others of the
            # same content (a device that crashed mid-upload and re-sealed) it supersedes.
            done = [r.id for r in c.execute(select(db.uploads.c.id).where(
                db.uploads.c.content_hash.in_(hashes), db.uploads.c.state == "open")).all()]
            if done:
                c.execute(update(db.uploads).where(db.uploads.c.id.in_(done)).values(
                    state="landed", updated_at=time.time()))
            return done

        for upload_id in self.writes.call(mark):
            self._staging(upload_id).unlink(missing_ok=True)

    def recover(self) -> int:
        """After a crash: commit landed rows that never reached the table (idempotent by batch)."""
        with self.engine.connect() as c:
            pending = c.execute(select(db.landed).where(db.landed.c.committed.is_(False))).all()
        if not pending:
            return 0
        committed = self.landing.committed_batches()
        by_batch: dict[str | None, list[Any]] = {}
        for r in pending:
            by_batch.setdefault(r.batch_id, []).append(r)
        for bid, rows in by_batch.items():
            table_rows = [row_for_table(json.loads(r.row)) for r in rows]
            if bid is not None and bid in committed:
                self._mark_committed(bid, table_rows)
            else:
                # Never appended (or no batch was assigned yet): append now under the recorded id.
                assert self._committer is not None
                self._committer.commit_now(table_rows, batch_id=bid)
        return len(pending)


def row_for_table(r: dict[str, Any]) -> dict[str, Any]:
    out = dict(r)
    for k in ("landed_at", "started_at", "ended_at"):
        v = out.get(k)
        if isinstance(v, str):
            try:
                out[k] = datetime.fromisoformat(v)
            except ValueError:
                out[k] = None
    return out

