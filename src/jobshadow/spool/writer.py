"""The rotating, sealed segment writer (device trust zone).

Accepts only ``Protected`` records — the type says they passed the device privacy filters — and
writes them into the current segment: an MCAP stream sealed chunk by chunk with the spool key.
Owns the H.264 encoder, one per segment, so every segment starts with a keyframe.

Durability: ``tick`` seals and fsyncs at least every ``flush_seconds``; a process killed at any
point loses at most that much, and its ``.part`` file is recovered on the next start. Rotation
happens on the time or size limit; the old segment is finished (summary, final chunk, fsync,
rename) before the next one opens. Not thread-safe: the recorder's writer thread owns it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from msgspec.structs import replace

from jobshadow.config import SegmentSettings
from jobshadow.crypto.sealed import SealedWriter
from jobshadow.records import EncodedFrame, EventRecord, FocusChange, Protected, ScreenImage
from jobshadow.segment.video import H264Encoder
from jobshadow.segment.writer import SegmentWriter
from jobshadow.spool.keys import SpoolKey
from jobshadow.spool.store import SpoolStore, segment_id

log = logging.getLogger(__name__)

EncoderFactory = Callable[[int, int], H264Encoder]


class SpoolWriter:
    def __init__(
        self,
        store: SpoolStore,
        key: SpoolKey,
        settings: SegmentSettings,
        *,
        session: str,
        base_meta: dict[str, Any],
        encoder_factory: EncoderFactory,
        on_finished: Callable[[Path], None] | None = None,
    ) -> None:
        self._store = store
        self._key = key
        self._settings = settings
        self._session = session
        self._base_meta = base_meta
        self._encoder_factory = encoder_factory
        self._on_finished = on_finished
        self._index = 0
        self._seg: SegmentWriter | None = None
        self._sealed: SealedWriter | None = None
        self._path: Path | None = None
        self._seg_id: str | None = None
        self._encoder: H264Encoder | None = None
        self._opened_at = 0.0
        self._last_flush = 0.0
        self._last_focus: FocusChange | None = None
        self.finished: list[Path] = []
        self.bytes_finished = 0
        self.frames_written = 0

    @property
    def current_id(self) -> str | None:
        return self._seg_id

    @property
    def current_bytes(self) -> int:
        return self._seg.bytes_written if self._seg else 0

    def _open(self, now: float) -> None:
        self._index += 1
        seg_id = segment_id(self._session, self._index)
        path = self._store.open_path(seg_id)
        raw = path.open("xb")
        wall_offset = time.time() - time.monotonic()
        meta = {
            **self._base_meta,
            "segment_id": seg_id,
            "session_id": self._session,
            "index": self._index,
            "started": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "wall_offset": wall_offset,
        }
        self._sealed = SealedWriter(raw, self._key.reveal(), content="mcap", extra={"segment_id": seg_id})
        self._seg = SegmentWriter(self._sealed, meta)
        self._path = path
        self._seg_id = seg_id
        self._encoder = None
        self._opened_at = now
        self._last_flush = now
        if self._last_focus is not None:
            self._seg.write(replace(self._last_focus, t=max(now, self._last_focus.t), carried=True))
        self._sealed.sync()

    def _ensure_open(self) -> SegmentWriter:
        if self._seg is None:
            self._open(time.monotonic())
        assert self._seg is not None
        return self._seg

    def write(self, item: Protected[EventRecord]) -> None:
        if not isinstance(item, Protected):
            raise TypeError("the spool accepts only Protected records")
        rec = item.record
        seg = self._ensure_open()
        seg.write(rec)
        if isinstance(rec, FocusChange):
            self._last_focus = rec

    def write_frame(self, item: Protected[ScreenImage]) -> None:
        if not isinstance(item, Protected):
            raise TypeError("the spool accepts only Protected records")
        shot = item.record
        seg = self._ensure_open()
        w, h = shot.meta.width, shot.meta.height
        if self._encoder is None:
            self._encoder = self._encoder_factory(w, h)
        pts = int((shot.meta.t - self._opened_at) * 1000)
        data, key = self._encoder.encode(shot.image, w, h, pts)
        if not data:
            return
        meta = replace(shot.meta, keyframe=key, width=self._encoder.width, height=self._encoder.height)
        seg.write_frame(EncodedFrame(meta=meta, data=data))
        self.frames_written += 1

    def set_scope(self, name: str | None, version: int | None) -> bool:
        """Capture from now on is under this collection scope version (writer thread).

        Every segment is stamped with the one scope version it was captured under (the server
        takes its purposes and retention from that version, never from whatever is active when it
        arrives), so a change of scope ends the open segment; the next one opens stamped anew.
        Returns True when the open segment was finished for it.
        """
        scope = {**self._base_meta.get("scope", {}), "name": name, "version": version}
        if scope == self._base_meta.get("scope"):
            return False
        self._base_meta["scope"] = scope
        if self._seg is None:
            return False
        self._finish("scope")
        return True

    def tick(self, now: float) -> bool:
        """Flush when due; rotate when due. Returns True when a new segment was opened."""
        if self._seg is None:
            return False
        if now - self._last_flush >= self._settings.flush_seconds:
            self.flush()
        if (now - self._opened_at >= self._settings.rotate_seconds
                or self._seg.bytes_written >= self._settings.rotate_bytes):
            self._finish("rotate")
            self._open(now)
            return True
        return False

    def flush(self) -> None:
        if self._seg is None or self._sealed is None:
            return
        self._seg.flush()
        self._sealed.sync()
        self._last_flush = time.monotonic()

    def close(self, finished_by: str = "stop") -> Path | None:
        """Finish the open segment (if any) and return its final path."""
        if self._seg is None:
            return None
        return self._finish(finished_by)

    def _finish(self, finished_by: str) -> Path:
        assert self._seg is not None and self._sealed is not None and self._path is not None
        seg = self._seg
        end = {
            "finished_by": finished_by,
            "ended": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "counts": seg.counts,
            "frames": seg.frames,
        }
        seg.finish(end)
        self._sealed.finish()
        self._sealed.close()
        final = self._store.finalize(self._path)
        self.finished.append(final)
        self.bytes_finished += final.stat().st_size
        self._seg = None
        self._sealed = None
        self._path = None
        self._seg_id = None
        self._encoder = None
        if self._on_finished is not None:
            try:
                self._on_finished(final)
            except Exception:
                log.exception("segment-finished hook failed")
        return final
