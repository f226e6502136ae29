"""Uploads: one-request segments and resumable chunked uploads, verified and landed (collector).

Nothing already accepted is affected by a bad request: uploads are staged per upload id and
verified in one pass (``ingest.verify``) before they count; a verified upload is stored as a
sealed blob, recorded as landed and acknowledged only once its landing-table row is committed
(``ingest.commit``). A segment id belongs to the device that first landed it: another device
reusing it is refused, so curation can never mistake one person's segment for another's. A
segment's purposes and retention are those of the scope version it was captured under (stamped
by the device), if that version was ever activated after its privacy review; never the scope
active when it arrives.
"""

from __future__ import annotations

import concurrent.futures
import functools
import io
import json
import os
import re
import secrets
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, update

from jobshadow.config import Settings
from jobshadow.errors import RequestRejected
from jobshadow.govern import Device, LandingZone, ProgrammeState
from jobshadow.ingest import db
from jobshadow.ingest.commit import LandingCommits
from jobshadow.ingest.lease import staged_lock
from jobshadow.ingest.verify import verify_sealed_segment
from jobshadow.ingest.writer import GroupCommit, insert_new

HEX64 = re.compile(r"^[0-9a-f]{64}$")
SEGMENT_ID = re.compile(r"[0-9A-Za-z_.-]{1,64}")


def now() -> float:
    return time.time()


class Uploads:
    def __init__(self, settings: Settings, engine: Engine, writes: GroupCommit, programme: ProgrammeState,
                 landing: LandingZone, staging_dir: Path, commits: LandingCommits) -> None:
        self.settings = settings
        self.engine = engine
        self.writes = writes
        self.programme = programme
        self.landing = landing
        self.staging_dir = staging_dir
        self.commits = commits
        self._scopes: dict[tuple[str, int], dict[str, Any]] = {}
        self._scopes_lock = threading.Lock()

    def _upload_allowed(self, c: Any, device: Device) -> None:
        # One read for both (this runs for every chunk): the kill switch, then the person's consent.
        refusal = self.programme.upload_refusal(c, device.person_id)
        if refusal is not None:
            raise refusal

    @staticmethod
    def _check_owner(c: Any, device: Device, segment_id: str) -> None:
        other = c.execute(select(db.landed.c.device_id).where(db.landed.c.segment_id == segment_id,
                                                              db.landed.c.device_id != device.id).limit(1)).first()
        if other is not None:
            raise RequestRejected(409, "segment_id_collision", "another device already landed a segment with this id")

    def staging(self, upload_id: str) -> Path:
        return self.staging_dir / f"{upload_id}.part"

    def begin_upload(self, device: Device, content_hash: str, payload_sha256: str, size: int,
                     segment_id: str) -> dict[str, Any]:
        if not HEX64.match(content_hash or "") or not HEX64.match(payload_sha256 or ""):
            raise RequestRejected(400, "invalid_hash", "hashes must be 64 lower-case hex characters")
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise RequestRejected(400, "invalid_size", "size must be a positive integer")
        if size > self.settings.server.max_segment_bytes:
            raise RequestRejected(413, "too_large",
                                  f"segment larger than {self.settings.server.max_segment_bytes} bytes")
        if not isinstance(segment_id, str) or not SEGMENT_ID.fullmatch(segment_id):
            raise RequestRejected(400, "invalid_segment_id", "malformed segment id")
        with self.engine.connect() as c:
            self._upload_allowed(c, device)
            self._check_owner(c, device, segment_id)
            done = c.execute(select(db.landed.c.upload_id, db.landed.c.committed)
                             .where(db.landed.c.content_hash == content_hash)).first()
            if done is not None and done.committed:
                return {"upload_id": done.upload_id, "state": "landed", "received": size}
            row = c.execute(select(db.uploads).where(
                db.uploads.c.device_id == device.id, db.uploads.c.payload_sha256 == payload_sha256,
                db.uploads.c.state == "open")).first()
        if row is not None:
            if row.size != size or row.content_hash != content_hash:
                raise RequestRejected(409, "upload_conflict", "an open upload of this payload disagrees on size")
            return {"upload_id": row.id, "state": "open", "received": self._received(row.id)}
        upload_id = secrets.token_hex(16)
        t = now()
        values = dict(id=upload_id, device_id=device.id, content_hash=content_hash, payload_sha256=payload_sha256,
                      size=size, segment_id=segment_id, state="open", created_at=t, updated_at=t)
        self.writes.call(functools.partial(_insert, db.uploads, values))
        self.staging(upload_id).touch(mode=0o600)
        return {"upload_id": upload_id, "state": "open", "received": 0}

    def _received(self, upload_id: str) -> int:
        p = self.staging(upload_id)
        return p.stat().st_size if p.exists() else 0

    def _open_upload(self, c: Any, device: Device, upload_id: str) -> Any:
        if not re.fullmatch(r"[0-9a-f]{32}", upload_id or ""):
            raise RequestRejected(404, "unknown_upload", "no such upload")
        row = c.execute(select(db.uploads).where(db.uploads.c.id == upload_id)).first()
        if row is None or row.device_id != device.id:
            raise RequestRejected(404, "unknown_upload", "no such upload")
        return row

    def upload_status(self, device: Device, upload_id: str) -> dict[str, Any]:
        with self.engine.connect() as c:
            row = self._open_upload(c, device, upload_id)
        received = row.size if row.state == "landed" else self._received(upload_id)
        return {"upload_id": upload_id, "state": row.state, "received": received, "size": row.size,
                "reason": row.reason or None}

    def put_chunk(self, device: Device, upload_id: str, offset: int, data: bytes) -> dict[str, Any]:
        with self.engine.connect() as c:
            self._upload_allowed(c, device)
            row = self._open_upload(c, device, upload_id)
        if row.state == "landed":
            return {"upload_id": upload_id, "state": "landed", "received": row.size}
        if row.state != "open":
            raise RequestRejected(409, "upload_closed", f"upload is {row.state}")
        if len(data) > self.settings.server.max_chunk_bytes:
            raise RequestRejected(413, "chunk_too_large",
                                  f"chunks are at most {self.settings.server.max_chunk_bytes} bytes")
        with staged_lock(self.staging(upload_id), os.O_WRONLY | os.O_APPEND) as fd:
            if fd is None:
                # Landed meanwhile (another upload of the same content) or dropped: the state says
                # which. Still open means the staged bytes were lost: start again from offset 0.
                status = self.upload_status(device, upload_id)
                if status["state"] == "open":
                    self.staging(upload_id).touch(mode=0o600)
                return status
            received = os.fstat(fd).st_size
            if offset != received:
                raise RequestRejected(409, "offset_mismatch", f"expected offset {received}", retry_after=None)
            if received + len(data) > row.size:
                raise RequestRejected(400, "too_much_data", "chunk goes past the declared size")
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            received += len(data)
        # Only ``expire_uploads`` (days) reads this: written with the next group commit, unawaited.
        self.writes.touch(db.uploads, db.uploads.c.id, db.uploads.c.updated_at, upload_id, now())
        return {"upload_id": upload_id, "state": "open", "received": received}

    def complete_upload(
        self, device: Device, upload_id: str
    ) -> concurrent.futures.Future[dict[str, Any]] | dict[str, Any]:
        """Verify and land; returns the result, or a future that resolves once the row is committed.

        Completions of one upload are serialised (a client retrying after a dropped connection
        must not verify and store the same bytes twice in parallel).
        """
        with self.engine.connect() as c:
            self._upload_allowed(c, device)
            row = self._open_upload(c, device, upload_id)
        # Held until the landed row is recorded: a retried completion (on any thread or process)
        # waits here, then finds the row and waits for the same commit.
        with staged_lock(self.staging(upload_id), os.O_RDONLY) as fd:
            with self.engine.connect() as c:
                row = self._open_upload(c, device, upload_id)
                landed = c.execute(select(db.landed).where(db.landed.c.content_hash == row.content_hash)).first()
            if landed is not None:
                if landed.committed:
                    self._finish_staging(upload_id, row)
                    return {"upload_id": upload_id, "state": "landed", "received": row.size,
                            "content_hash": row.content_hash}
                return self.commits.await_commit(landed.content_hash, json.loads(landed.row), upload_id)
            if row.state == "rejected":
                raise RequestRejected(422, "upload_rejected", row.reason or "upload was rejected")
            received = os.fstat(fd).st_size if fd is not None else 0
            if received != row.size:
                raise RequestRejected(409, "incomplete", f"received {received} of {row.size} bytes")
            assert fd is not None  # row.size > 0, so some bytes were staged
            try:
                info = self._verify(fd, row)
            except RequestRejected as exc:
                self.writes.call(functools.partial(_update_upload, upload_id, state="rejected",
                                                   reason=str(exc)[:500], updated_at=now()))
                self.staging(upload_id).unlink(missing_ok=True)
                raise
            blob_name = _blob_name(upload_id)
            try:
                blob_uri = self.landing.store_blob(self.staging(upload_id), blob_name, fd)
            except FileNotFoundError:
                # Another upload of the same content landed while this one was verified, and
                # its commit removed these staged bytes: that landing stands for this one too.
                with self.engine.connect() as c:
                    landed = c.execute(select(db.landed).where(
                        db.landed.c.content_hash == row.content_hash)).first()
                if landed is None:
                    raise
                return self.commits.await_commit(landed.content_hash, json.loads(landed.row), upload_id)
            return self._land(device, upload_id, row.content_hash, row.payload_sha256, row.segment_id, row.size,
                              info, blob_name, blob_uri)

    def put_segment(self, device: Device, content_hash: str, segment_id: str, payload: bytes,
                    payload_sha256: str) -> concurrent.futures.Future[dict[str, Any]] | dict[str, Any]:
        """Land a whole segment received in one request (one no larger than a chunk).

        Most segments are a few MB: one signed request instead of begin, chunks and complete.
        The request's signature covers ``payload_sha256`` (the body's hash), so transit damage
        is already excluded; the payload is verified in memory as a completion verifies staged
        bytes, stored as a blob and recorded like any landed upload. Idempotent by content hash:
        a retry after a lost answer gets "landed" again and lands nothing twice.
        """
        if not HEX64.match(content_hash or ""):
            raise RequestRejected(400, "invalid_hash", "the content hash must be 64 lower-case hex characters")
        if not isinstance(segment_id, str) or not SEGMENT_ID.fullmatch(segment_id):
            raise RequestRejected(400, "invalid_segment_id", "malformed segment id")
        if not payload:
            raise RequestRejected(400, "empty_body", "the sealed segment is the request body")
        limit = min(self.settings.server.max_chunk_bytes, self.settings.server.max_segment_bytes)
        if len(payload) > limit:
            raise RequestRejected(413, "too_large", f"a segment larger than {limit} bytes goes in a resumable "
                                                    "upload (POST /v1/uploads)")
        with self.engine.connect() as c:
            self._upload_allowed(c, device)
            self._check_owner(c, device, segment_id)
            landed = c.execute(select(db.landed).where(db.landed.c.content_hash == content_hash)).first()
        if landed is not None:
            if landed.committed:
                return {"upload_id": landed.upload_id, "state": "landed", "received": len(payload),
                        "content_hash": content_hash}
            return self.commits.await_commit(content_hash, json.loads(landed.row), landed.upload_id)
        info = verify_sealed_segment(io.BytesIO(payload), self.landing.key_for, payload_sha256, content_hash,
                                     segment_id)
        upload_id = secrets.token_hex(16)
        blob_name = _blob_name(upload_id)
        blob_uri = self.landing.store_blob_bytes(payload, blob_name)
        t = now()
        upload = dict(id=upload_id, device_id=device.id, content_hash=content_hash, payload_sha256=payload_sha256,
                      size=len(payload), segment_id=segment_id, state="open", created_at=t, updated_at=t)
        return self._land(device, upload_id, content_hash, payload_sha256, segment_id, len(payload), info,
                          blob_name, blob_uri, upload=upload)


    def _land(self, device: Device, upload_id: str, content_hash: str, payload_sha256: str, segment_id: str,
              size: int, info: dict[str, Any], blob_name: str, blob_uri: str,
              upload: dict[str, Any] | None = None) -> concurrent.futures.Future[dict[str, Any]]:
        """Record a verified, stored upload as landed and wait for its landing-table commit.

        ``upload``: the upload's row, for a segment that arrived in one request and has none yet;
        it is written in the same transaction as the landed row.
        """
        scope = self.captured_under(info.get("scope"))
        landed_row = {
            "content_hash": content_hash, "payload_sha256": payload_sha256, "device_id": device.id,
            "person_id": device.person_id, "segment_id": segment_id, "session_id": info.get("session_id"),
            "blob_uri": blob_uri, "size_bytes": size, "landed_at": datetime.now(UTC).isoformat(),
            "started_at": info.get("started"), "ended_at": info.get("ended"),
            "schema_version": info["schema_version"], "quarantined": False,
            "scope_name": scope.get("name"), "scope_version": scope.get("version"),
            "purposes": json.dumps(scope.get("purposes", [])), "retention_days": scope.get("retention_days"),
        }
        landed_values = dict(content_hash=content_hash, upload_id=upload_id, device_id=device.id,
                             person_id=device.person_id, segment_id=segment_id, blob_name=blob_name,
                             row=json.dumps(landed_row), committed=False, landed_at=now())

        def record(c: Any) -> str:
            # Decided in the writer's transaction: of two devices landing one segment id at once,
            # the second finds the first's row.
            if c.execute(select(db.landed.c.device_id).where(db.landed.c.segment_id == segment_id,
                                                             db.landed.c.device_id != device.id).limit(1)).first():
                return "collision"
            won = _insert_new(db.landed, ("content_hash",), landed_values, c)
            if won and upload is not None:
                _insert(db.uploads, upload, c)
            return "won" if won else "lost"

        outcome = self.writes.call(record)
        if outcome == "collision":
            self.landing.delete_blob(blob_name)
            if upload is None:
                self.writes.call(functools.partial(_update_upload, upload_id, state="rejected",
                                                   reason="segment id collision", updated_at=now()))
                self.staging(upload_id).unlink(missing_ok=True)
            raise RequestRejected(409, "segment_id_collision", "another device already landed a segment with this id")
        if outcome == "lost":
            # Another upload of the same content was recorded first (a device that re-sealed after
            # a crash, or a retry racing the original): that one's blob is the landed one, and its
            # commit is awaited below like ours would be. Ours is removed unless it is that one.
            with self.engine.connect() as c:
                kept = c.execute(select(db.landed.c.blob_name, db.landed.c.upload_id).where(
                    db.landed.c.content_hash == content_hash)).first()
            if kept is None or kept.blob_name != blob_name:
                self.landing.delete_blob(blob_name)
            if upload is not None and kept is not None:
                upload_id = kept.upload_id  # this request made no upload of its own
        return self.commits.await_commit(content_hash, landed_row, upload_id)

    def captured_under(self, stamp: tuple[str, int] | None) -> dict[str, Any]:
        """The scope version a segment was captured under, if it may vouch for it (ever activated)."""
        if stamp is None:
            return {}
        with self._scopes_lock:
            known = self._scopes.get(stamp)
        if known is not None:
            return known
        version = self.programme.scope_version(*stamp)
        if version is None or not version["activated"]:
            return {}  # unknown, or never approved and activated: the segment serves no purpose
        with self._scopes_lock:
            self._scopes[stamp] = version  # a version never changes once defined
        return version

    def expire_uploads(self, older_than: float = 7 * 86400) -> int:
        """Drop open uploads nobody has touched for ``older_than`` seconds (and their staged bytes)."""
        horizon = now() - older_than
        with self.engine.begin() as c:
            stale = [r.id for r in c.execute(select(db.uploads.c.id).where(
                db.uploads.c.state == "open", db.uploads.c.updated_at < horizon)).all()]
            c.execute(update(db.uploads).where(db.uploads.c.id.in_(stale)).values(
                state="rejected", reason="abandoned", updated_at=now()))
        for upload_id in stale:
            self.staging(upload_id).unlink(missing_ok=True)
        return len(stale)

    def _finish_staging(self, upload_id: str, row: Any) -> None:
        self.staging(upload_id).unlink(missing_ok=True)
        self.writes.call(functools.partial(_update_upload, upload_id, state="landed", updated_at=now()))

    def _verify(self, fd: int, row: Any) -> dict[str, Any]:
        """Payload hash, decryption, MCAP structure and content hash of a fully received upload."""
        os.fsync(fd)  # the blob store links these bytes: they must be on disk
        with open(os.dup(fd), "rb") as fh:
            fh.seek(0)
            return verify_sealed_segment(fh, self.landing.key_for, row.payload_sha256, row.content_hash,
                                         row.segment_id)


def _insert_new(table: Any, keys: tuple[str, ...], values: dict[str, Any], c: Any) -> bool:
    return insert_new(c, table, values, keys)


def _insert(table: Any, values: dict[str, Any], c: Any) -> None:
    c.execute(insert(table).values(values))


def _update_upload(upload_id: str, c: Any, **values: Any) -> None:
    c.execute(update(db.uploads).where(db.uploads.c.id == upload_id).values(**values))


def _blob_name(upload_id: str) -> str:
    return f"landing/{datetime.now(UTC):%Y/%m/%d}/{upload_id}.sealed"

