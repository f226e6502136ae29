"""Deliver finished segments to the collector, exactly once, then delete the local copy (device zone).

A finished segment becomes eligible ``auto_approve_after`` after it was finished (its owner can
delete it before that). Delivery has three durable steps, so any crash resumes where it stopped:

1. **prepare** — authenticate and decrypt the spool segment, hash its MCAP bytes (the content
   hash, the segment's identity everywhere) and re-seal it to the landing service's public key
   in ``spool/outbox/`` (atomic rename); only the landing service can open the result;
2. **upload** — a segment no larger than ``chunk_bytes`` (most are) goes in one signed request
   that the collector verifies and commits before it answers; a larger one goes in resumable
   chunks (each a separately signed request) from the offset the collector reports, then
3. **complete** — the collector verifies and commits. Either way, only the collector's "landed"
   answer deletes the spool segment and the outbox copy. Everything is within the bandwidth cap.

Network errors and 408/425/429/5xx are retried with exponential backoff and full jitter
(honouring Retry-After). Any other 4xx is final: the segment moves to ``spool/quarantine/``
with the reason and never re-enters the loop.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from jobshadow.backoff import Backoff
from jobshadow.config import UploadSettings
from jobshadow.crypto.recipients import seal_to
from jobshadow.crypto.sealed import SealedReader, SealedWriter, key_id
from jobshadow.device_api import BeginUploadRequest, UploadState
from jobshadow.durable import fsync_path
from jobshadow.errors import RequestRejected, SpoolCorrupt, Transient, WrongKey
from jobshadow.hashing import HashingReader, HashingWriter
from jobshadow.home import Home, write_private
from jobshadow.protocol import API
from jobshadow.spool.keys import SpoolKey
from jobshadow.spool.store import FINISHED, SegmentFile, SpoolStore
from jobshadow.upload.client import CollectorClient
from jobshadow.upload.identity import DeviceIdentity

log = logging.getLogger(__name__)

MIN_CHUNK = 16 * 1024  # the smallest ``upload.chunk_bytes``; a collector refusing these is broken


@dataclass
class OutboxItem:
    segment_id: str
    content_hash: str
    payload_sha256: str
    size: int
    source: str

    def meta_path(self, outbox: Path) -> Path:
        return outbox / f"{self.segment_id}.json"

    def payload_path(self, outbox: Path) -> Path:
        return outbox / f"{self.segment_id}.landing"


class Throttle:
    """A token bucket: at most ``rate`` bytes per second on average (0: unlimited).

    ``clock`` and ``sleep`` are injectable so the policy can be tested without waiting; a ``stop``
    event passed to ``take`` cuts the wait short.
    """

    def __init__(self, rate: int, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._allowance = float(rate)
        self._last = clock()

    def take(self, n: int, stop: threading.Event | None = None) -> None:
        """Account for ``n`` bytes about to be sent; wait first if they exceed the budget."""
        if self.rate <= 0:
            return
        now = self._clock()
        self._allowance = min(float(self.rate), self._allowance + (now - self._last) * self.rate)
        self._last = now
        self._allowance -= n
        if self._allowance < 0:
            delay = -self._allowance / self.rate
            if stop is not None:
                stop.wait(delay)
            else:
                self._sleep(delay)


@dataclass
class UploadStats:
    landed: int = 0
    bytes_sent: int = 0
    retries: int = 0
    quarantined: int = 0
    last_error: str | None = None
    pending: int = 0


class Uploader:
    def __init__(self, home: Home, settings: UploadSettings, identity: DeviceIdentity, key: SpoolKey, *,
                 allowed: Callable[[], bool] = lambda: True, blocker: Callable[[], str | None] = lambda: None,
                 client: CollectorClient | None = None) -> None:
        self.home = home
        self.settings = settings
        self.identity = identity
        self.key = key
        self.allowed = allowed
        self.blocker = blocker
        self.store = SpoolStore(home)
        self.outbox = home.spool_dir / "outbox"
        self.quarantine_dir = home.spool_dir / "quarantine"
        for d in (self.outbox, self.quarantine_dir):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.client = client or CollectorClient(identity.server_url, identity)
        self.throttle = Throttle(settings.bandwidth_bytes_per_s)
        self.stats = UploadStats()
        self.backoff_policy = Backoff(float(settings.retry_initial), float(settings.retry_max))

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Uploader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- selection ---------------------------------------------------------------------------------
    def _outbox_items(self) -> list[OutboxItem]:
        items = []
        for meta in sorted(self.outbox.glob("*.json")):
            try:
                item = OutboxItem(**json.loads(meta.read_text()))
            except (ValueError, TypeError):
                log.error("damaged outbox entry %s moved to quarantine", meta.name)
                os.replace(meta, self.quarantine_dir / meta.name)
                continue
            if item.payload_path(self.outbox).exists():
                items.append(item)
            else:
                meta.unlink()  # a prepare that did not finish; it is redone from the spool
        return items

    def eligible(self, now_wall: float | None = None) -> list[SegmentFile]:
        now_wall = time.time() if now_wall is None else now_wall
        queued = {p.stem for p in self.outbox.glob("*.json")}
        wait = float(self.settings.auto_approve_after)
        return [s for s in self.store.list()
                if s.state == "finished" and s.id not in queued and s.mtime + wait <= now_wall]

    def next_eligible_in(self, now_wall: float | None = None) -> float | None:
        now_wall = time.time() if now_wall is None else now_wall
        wait = float(self.settings.auto_approve_after)
        times = [s.mtime + wait - now_wall for s in self.store.list() if s.state == "finished"]
        return max(0.0, min(times)) if times else None

    # --- prepare ----------------------------------------------------------------------------------------
    def prepare(self, seg: SegmentFile) -> OutboxItem:
        """Decrypt, hash and re-seal a spool segment for the landing service (atomic)."""
        tmp = self.outbox / f"{seg.id}.landing.tmp"
        target = seal_to(self.identity.landing_public_key)
        raw_key = self.key.reveal()
        with seg.path.open("rb") as src, tmp.open("wb") as dst:
            def resolve(header: Any) -> bytes:
                if header.key_id != key_id(raw_key):
                    raise WrongKey(f"{seg.path.name} was sealed with another key")
                return raw_key

            plaintext = HashingReader(SealedReader(src, resolve, name=seg.path.name))
            sink = HashingWriter(dst)
            writer = SealedWriter(sink, target.master, content="mcap",  # type: ignore[arg-type]
                                  extra={**target.header, "segment_id": seg.id})
            while chunk := plaintext.read(1 << 20):
                writer.write(chunk)
            writer.finish()
            dst.flush()
            os.fsync(dst.fileno())
        item = OutboxItem(seg.id, plaintext.hexdigest(), sink.sha.hexdigest(), sink.size, str(seg.path))
        os.replace(tmp, item.payload_path(self.outbox))
        write_private(item.meta_path(self.outbox), json.dumps(asdict(item)).encode())
        return item

    # --- deliver ----------------------------------------------------------------------------------------
    def deliver(self, item: OutboxItem, stop: threading.Event | None = None) -> None:
        """Upload one prepared item until the collector says it landed; then delete local copies."""
        if item.size <= self.settings.chunk_bytes and self._deliver_whole(item, stop):
            self._forget(item)
            self.stats.landed += 1
            return
        begin = self.client.answer(UploadState, "POST", f"{API}/uploads", BeginUploadRequest(
            item.content_hash, item.payload_sha256, item.size, item.segment_id))
        upload_id = begin.upload_id
        if begin.state != "landed":
            offset = begin.received
            chunk = self.settings.chunk_bytes
            with item.payload_path(self.outbox).open("rb") as fh:
                while offset < item.size:
                    self._check_running(stop)
                    fh.seek(offset)
                    data = fh.read(chunk)
                    self.throttle.take(len(data), stop)
                    try:
                        out = self.client.answer(UploadState, "PUT", f"{API}/uploads/{upload_id}",
                                                 query=f"offset={offset}", body=data)
                    except RequestRejected as exc:
                        if exc.status == 413 and chunk > MIN_CHUNK:
                            # This collector takes smaller chunks than configured here: halve and resend.
                            chunk = max(MIN_CHUNK, chunk // 2)
                            continue
                        if exc.code != "offset_mismatch":
                            raise
                        out = self.client.answer(UploadState, "GET", f"{API}/uploads/{upload_id}")
                    self.stats.bytes_sent += len(data)
                    if out.state == "landed":
                        break
                    offset = out.received
            done = self.client.answer(UploadState, "POST", f"{API}/uploads/{upload_id}/complete")
            if done.state != "landed":
                raise Transient(f"collector reports upload {done.state}")
        self._forget(item)
        self.stats.landed += 1

    def _deliver_whole(self, item: OutboxItem, stop: threading.Event | None) -> bool:
        """One request for a small segment; False if this collector wants a resumable upload.

        A collector with a lower chunk limit answers 413, one that predates the route 404 or
        405: the caller falls back to begin, chunks and complete. Other refusals are final.
        """
        self._check_running(stop)
        data = item.payload_path(self.outbox).read_bytes()
        self.throttle.take(len(data), stop)
        try:
            out = self.client.answer(UploadState, "PUT", f"{API}/segments/{item.content_hash}",
                                     query=f"segment_id={item.segment_id}", body=data)
        except RequestRejected as exc:
            if exc.status in (404, 405, 413):
                return False
            raise
        self.stats.bytes_sent += len(data)
        if out.state != "landed":
            raise Transient("the collector did not confirm the segment landed")
        return True

    def _check_running(self, stop: threading.Event | None) -> None:
        if stop is not None and stop.is_set():
            raise Transient("stopping")
        if not self.allowed():
            raise Transient("uploads are paused by the programme or consent")

    def _forget(self, item: OutboxItem) -> None:
        src = Path(item.source)
        if src.exists() and src.name.endswith(FINISHED):
            src.unlink()
        item.payload_path(self.outbox).unlink(missing_ok=True)
        item.meta_path(self.outbox).unlink(missing_ok=True)
        fsync_path(self.outbox, missing_ok=True)
        fsync_path(src.parent, missing_ok=True)

    def _quarantine(self, name: str, source: Path | None, reason: str, item: OutboxItem | None = None) -> None:
        self.stats.quarantined += 1
        log.error("segment %s quarantined: %s", name, reason)
        if source is not None and source.exists():
            os.replace(source, self.quarantine_dir / source.name)
        if item is not None:
            item.payload_path(self.outbox).unlink(missing_ok=True)
            item.meta_path(self.outbox).unlink(missing_ok=True)
        write_private(self.quarantine_dir / f"{name}.reason.txt", (reason + "\n").encode())

    # --- loop -------------------------------------------------------------------------------------------
    def run_once(self, stop: threading.Event | None = None) -> UploadStats:
        """Prepare and deliver everything eligible now; raises Transient when the collector is away."""
        if not self.allowed():
            reason = self.blocker() or "uploads are not allowed right now"
            if self.stats.last_error != reason:
                log.warning("uploads held: %s", reason)
            self.stats.last_error = reason
            return self.stats
        for seg in self.eligible():
            try:
                self.prepare(seg)
            except SpoolCorrupt as exc:
                self._quarantine(seg.id, seg.path, f"the spool segment failed verification: {exc}")
        items = self._outbox_items()
        self.stats.pending = len(items)
        for item in items:
            if stop is not None and stop.is_set():
                break
            try:
                self.deliver(item, stop)
            except RequestRejected as exc:
                self._quarantine(item.segment_id, Path(item.source),
                                 f"collector refused it ({exc.status} {exc.code}): {exc}", item)
            self.stats.pending -= 1
        return self.stats

    def run(self, stop: threading.Event, idle: float = 5.0) -> None:
        """Deliver until ``stop`` is set, with backoff after transient failures."""
        while not stop.is_set():
            try:
                self.run_once(stop)
                self.backoff_policy.reset()
                self.stats.last_error = None
                nxt = self.next_eligible_in()
                stop.wait(idle if nxt is None else min(idle, max(nxt, 0.5)))
            except Transient as exc:
                self.stats.retries += 1
                self.stats.last_error = str(exc)
                stop.wait(self.backoff(exc.retry_after))
            except Exception as exc:  # thread boundary: log the type, never content
                self.stats.last_error = type(exc).__name__
                log.exception("uploader failed; retrying")
                stop.wait(self.backoff(None))

    def backoff(self, retry_after: float | None) -> float:
        """The wait after a failure (``jobshadow.backoff``: full jitter, never shorter than Retry-After)."""
        return self.backoff_policy.next(retry_after)


__all__ = ["OutboxItem", "Throttle", "UploadStats", "Uploader"]
