"""The recorder's ``writer`` thread: filter, encode and spool everything, in order (device zone).

Owns the device privacy filter (with its typed-text guard and echo shield) and the spool writer;
no other thread touches either. It drains its inbox — input records and notices, focus changes,
markers — through the filter into the spool, encodes queued frames after the echo shield has
filled what must not be seen, flushes at least every ``flush_seconds`` and rotates. A new
collection scope arrives as a ``PolicyUpdate`` in the inbox and applies from that point of the
stream on; a withdrawal arrives as a ``Discard`` at the head of it. It also watches the consent
file (a withdrawal from another process) and ends every recording with a ``recording_stop``
marker and a finished segment.
"""

from __future__ import annotations

import itertools
import logging
import queue
import time
from collections.abc import Callable

import msgspec

from jobshadow.agent.pipeline import Channels, Counters, Discard, PolicyUpdate, WriterItem, take
from jobshadow.capture.backend import WindowModel
from jobshadow.protect.consent import ConsentStore
from jobshadow.protect.filter import DeviceFilter
from jobshadow.protect.gate import CaptureGate
from jobshadow.records import (
    EventRecord,
    Marker,
    MouseButton,
    MouseMove,
    Protected,
    Rect,
    ScreenImage,
    Scroll,
    WindowInfo,
)
from jobshadow.spool.writer import SpoolWriter

log = logging.getLogger(__name__)

BATCH = 5000  # events filtered between two looks at the frame queue


class WindowLookup:
    """What the privacy filter asks of the window model (``protect.filter.WindowLookup``)."""

    def __init__(self, windows: WindowModel) -> None:
        self._w = windows

    def window(self, window_id: int) -> WindowInfo | None:
        return self._w.window(window_id)

    def window_at(self, x: int, y: int) -> WindowInfo | None:
        entry = self._w.snapshot().window_at(x, y)
        return entry.info if entry is not None else None

    def outer(self, window_id: int) -> Rect | None:
        for e in self._w.snapshot().entries:
            if e.info is not None and e.info.window_id == window_id and not e.popup:
                return e.outer
        return None


class WriterWorker:
    def __init__(self, channels: Channels, counters: Counters, gate: CaptureGate, flt: DeviceFilter,
                 spool: SpoolWriter, windows: WindowModel, consent: ConsentStore, *,
                 withdraw: Callable[[], None], stop_reason: Callable[[], str], trim: Callable[[float], None],
                 fail: Callable[[BaseException], None]) -> None:
        self.ch = channels
        self.counters = counters
        self.gate = gate
        self.filter = flt
        self.spool = spool
        self.windows = windows
        self.consent = consent
        self._withdraw = withdraw
        self._stop_reason = stop_reason
        self._trim = trim
        self._fail = fail
        self._consent_mtime = consent.mtime()

    def run(self) -> None:
        """The thread's body; a failure still finishes the open segment."""
        try:
            self._run()
        except Exception as exc:  # thread boundary
            log.exception("writer thread failed")
            self._fail(exc)
            try:
                self.spool.close("error")
            except Exception:
                log.exception("could not finish the segment after a writer failure")

    def _run(self) -> None:
        ch, spool = self.ch, self.spool
        last_consent_check = 0.0
        while True:
            stopping = ch.stop.is_set() and ch.screen_done.is_set()
            if ch.events:
                self._drain_events()
            try:
                frame = ch.frames.get(timeout=0.0 if ch.events else 0.05)
            except queue.Empty:
                frame = None
            else:
                if frame is None:
                    if ch.events or not ch.frames.empty():
                        ch.frames.put(None)  # drain first; the stop marker comes back around
                        continue
                    break
                image, shot = frame
                try:
                    shielded = self.filter.protect_frame(image, shot.image.planes[0], time.monotonic())
                    if shielded:
                        image = ScreenImage(msgspec.structs.replace(image.meta, shielded_area=shielded), image.image)
                    spool.write_frame(Protected(image))
                finally:
                    shot.release()
                self.counters.frames_written += 1
            now = time.monotonic()
            self._write(self.filter.tick(now))
            if self.gate.tick():
                ch.events.append(Marker(t=now, name="resume", detail={"by": "timer"}))
            if now - last_consent_check >= 0.5:
                last_consent_check = now
                self._watch_consent()
            self._trim(now)
            if spool.tick(now):
                ch.segment_started.set()
                ch.poke()
            if stopping and not ch.events and ch.frames.empty():
                break
        self._discard_if_withdrawn()
        self._write(self.filter.flush())
        while (item := self._next()) is not None:
            self._apply(item)
        spool.write(Protected(Marker(t=time.monotonic(), name="recording_stop",
                                     detail={"reason": self._stop_reason() or "stop"})))
        spool.close("stop")

    def _drain_events(self) -> None:
        events = self.ch.events
        # Pointer events are judged against window geometry; make it fresh unless the screen
        # thread synced moments ago (it does on every grab).
        if time.monotonic() - self.windows.snapshot().synced_at > 0.1:
            try:
                pointer = any(isinstance(e, MouseMove | MouseButton | Scroll) for e in itertools.islice(events, 64))
            except RuntimeError:  # appended to meanwhile: look again next round
                pointer = True
            if pointer:
                self.windows.sync()
        for _ in range(BATCH):
            item = self._next()
            if item is None:
                break
            self._apply(item)

    def _next(self) -> WriterItem | None:
        """The next inbox item; after a withdrawal, everything queued before it is dropped first."""
        self._discard_if_withdrawn()
        return take(self.ch.events)

    def _discard_if_withdrawn(self) -> None:
        if not self.ch.discard_pending.is_set():
            return
        self.ch.discard_pending.clear()
        dropped = 0
        while (item := take(self.ch.events)) is not None and not isinstance(item, Discard):
            dropped += 1
        held = self.filter.discard()
        log.info("consent withdrawn: capture stopped, %d held key events and %d queued events discarded",
                 held, dropped)

    def _apply(self, item: WriterItem) -> None:
        if isinstance(item, PolicyUpdate):
            self.filter.policy, self.filter.streams = item.policy, item.streams
            return
        if isinstance(item, Discard):  # a second withdrawal: nothing is held any more
            self.filter.discard()
            return
        if isinstance(item, Marker) and item.name == "scope":
            # Segments are stamped with the scope version they are captured under.
            self.spool.set_scope(item.detail.get("name"), item.detail.get("version"))
        self._write(self.filter.apply(item))

    def _write(self, records: list[Protected[EventRecord]]) -> None:
        for rec in records:
            self.spool.write(rec)
            self.counters.written[rec.record.kind] += 1

    def _watch_consent(self) -> None:
        mtime = self.consent.mtime()
        if mtime == self._consent_mtime:
            return
        self._consent_mtime = mtime
        if self.consent.read().state != "given":
            self._withdraw()
