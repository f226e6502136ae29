"""The recorder: wires capture → protect → spool and runs it until told to stop (device zone).

Threads and what they may do:

* ``x11-record`` (capture) parses the ordered input stream; its sink only checks the gate,
  appends to the event deque and pokes the screen thread. It never blocks.
* ``screen`` owns the frame planner: it grabs after changes and before actions, masks each grab
  (protect) right away, and queues images for encoding. It also pumps the window model.
* ``writer`` owns the privacy filter, the typed-text guard and the spool writer: it filters and
  writes events, encodes queued frames, flushes at least every ``flush_seconds`` and rotates.
* ``control`` answers the Unix control socket.
* when the device is enrolled, ``device-sync`` follows the collector's configuration (scope,
  kill switch, consent) and ``uploader`` delivers finished segments (``agent.device_agent``).

Memory is bounded: the frame queue holds ``frame_queue`` images and drops (counted, recorded as
``frame_drop`` events) when the encoder falls behind; events are never dropped below the
``input_queue`` bound.

Shutdown order is fixed: stop sources (input stream, then the screen thread after a final frame),
drain the filters (held-back keys are scanned and written), finish the segment, stop the control
socket. Every step gets what remains of one deadline.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import fcntl
import functools
import itertools
import logging
import os
import queue
import resource
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from jobshadow import __version__
from jobshadow.agent.control import ControlServer
from jobshadow.agent.device_agent import Enrolment, scope_settings
from jobshadow.capture.backend import DamageNotice, InputFocusNotice, StreamItem
from jobshadow.capture.framing import ActionClassifier, Encode, FramePlanner
from jobshadow.capture.x11.display import check_server, connect, resolve_display
from jobshadow.capture.x11.record import XRecordInput
from jobshadow.capture.x11.screen import ImagePool, X11Screen
from jobshadow.capture.x11.windows import Snapshot, StackEntry, X11Windows
from jobshadow.config import Settings
from jobshadow.errors import ConsentError
from jobshadow.home import Home
from jobshadow.protect.consent import ConsentStore
from jobshadow.protect.filter import DeviceFilter, FilterInput
from jobshadow.protect.gate import CaptureGate
from jobshadow.protect.masking import Layer, Region, apply_mask, keep_region
from jobshadow.protect.scope import ScopePolicy
from jobshadow.protect.titles import TitleGuard
from jobshadow.protect.typed_text import TypedTextGuard
from jobshadow.protocol import STREAMS
from jobshadow.records import (
    FocusChange,
    FrameDrop,
    FrameMeta,
    Marker,
    MouseButton,
    MouseMove,
    Protected,
    Rect,
    ScreenImage,
    Scroll,
    VisibleWindow,
    WindowInfo,
    wire,
)
from jobshadow.segment.format import EVENT_KINDS
from jobshadow.segment.video import H264Encoder
from jobshadow.sensitive import partial, scan
from jobshadow.sensitive import redact as redact_text
from jobshadow.spool.keys import load_spool_key
from jobshadow.spool.recovery import RecoveryReport, recover_open_segments
from jobshadow.spool.store import SpoolStore, new_session_id
from jobshadow.spool.writer import SpoolWriter
from jobshadow.upload.identity import load_identity
from jobshadow.upload.sync import cached_config

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Action:
    t: float


@dataclass
class _Shot:
    """A grab as the planner holds it, with the region that may be shown.

    The keep-region is computed at grab time (window state then is what matters); the pixels
    outside it are filled only when the grab is chosen for encoding — most grabs are never
    encoded, and nothing leaves memory unmasked.
    """

    image: Any
    monitors: tuple[Any, ...]
    windows: tuple[VisibleWindow, ...]
    keep: Region
    width: int
    height: int
    pool: ImagePool
    masked_area: int = -1  # -1: not filled yet
    # Holders of the pooled image: the planner's history plus frames queued for encoding.
    refs: int = 1
    lock: threading.Lock = field(default_factory=threading.Lock)

    def mask(self) -> int:
        if self.masked_area < 0:
            self.masked_area = apply_mask(self.image.planes[0], self.width, self.height, self.keep)
        return self.masked_area

    def hold(self) -> None:
        with self.lock:
            self.refs += 1

    def release(self) -> None:
        with self.lock:
            self.refs -= 1
            free = self.refs == 0
        if free:
            self.pool.give(self.image)


@dataclass
class Counters:
    captured: collections.Counter[str] = field(default_factory=collections.Counter)
    written: collections.Counter[str] = field(default_factory=collections.Counter)
    frames_queued: int = 0
    frames_written: int = 0
    frames_dropped: collections.Counter[str] = field(default_factory=collections.Counter)
    grabs: int = 0
    input_dropped: int = 0


class _Malloc:
    """glibc tuning that keeps the recorder's memory flat (no-ops elsewhere).

    Each thread would otherwise get its own 64 MB-aligned malloc arena, and memory freed in one
    is not reused by another; the writer thread's transient buffers (colour conversion, chunk
    compression) then pin tens of MB. One arena plus a periodic ``malloc_trim`` (which returns
    free pages inside the heap, not only at its top) keeps PSS close to what is live.
    """

    def __init__(self) -> None:
        try:
            self._libc: Any = ctypes.CDLL(None)
            self._libc.mallopt(-8, 1)  # M_ARENA_MAX
            self._libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            self._libc = None
        self._last = 0.0

    def trim(self, now: float, every: float = 2.0) -> None:
        if self._libc is not None and now - self._last >= every:
            self._last = now
            self._libc.malloc_trim(0)


def harden_process() -> None:
    """No core dumps and no ptrace by other processes: memory holds unmasked pixels and keys."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0
    except (OSError, AttributeError):
        log.warning("could not mark the process non-dumpable")


class Recorder:
    def __init__(self, settings: Settings, *, display: str | None = None) -> None:
        self.settings = settings
        self.home = Home(settings.home).ensure()
        self.display_name = resolve_display(display or settings.capture.display)
        self.policy = ScopePolicy(settings.capture.scope)
        self.consent = ConsentStore(self.home)
        self.gate = CaptureGate()
        self.counters = Counters()
        self.session = new_session_id()
        self.store = SpoolStore(self.home)
        self.recovered: list[RecoveryReport] = []
        self.started_at = time.monotonic()
        self._events: collections.deque[FilterInput] = collections.deque()
        self._screen_q: collections.deque[DamageNotice | _Action] = collections.deque()
        self._frames: queue.Queue[tuple[ScreenImage, _Shot] | None] = queue.Queue(
            maxsize=settings.capture.frame_queue)
        self._stop = threading.Event()
        self._screen_done = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._classifier = ActionClassifier()
        self._titles = TitleGuard()  # the screen thread's own (the filter has another)
        self._seq = 0
        self._segment_started = threading.Event()
        self._status_lock = threading.Lock()
        self._consent_mtime = 0.0
        self.stop_reason = ""
        self.failure: BaseException | None = None
        self.identity = load_identity(self.home)
        self.enrolment: Enrolment | None = None
        self.streams: frozenset[str] = frozenset(STREAMS)
        self._upload_lock_fd: int | None = None

    # --- preconditions --------------------------------------------------------------------------
    def check_ready(self) -> None:
        """Raise with a one-line reason when recording must not start."""
        self.consent.require()
        # An enrolled device takes its scope from the collector; a standalone one from its config.
        if self.identity is None and self.policy.nothing_in_scope:
            raise ConsentError(
                "nothing is in capture scope: set [capture.scope] allow_apps in the config "
                "(default deny: no application is recorded until allowed)"
            )

    # --- lifecycle ---------------------------------------------------------------------------------
    def run(self, duration: float | None = None, on_started: Callable[[], None] | None = None) -> None:
        """Record until ``duration`` elapses or ``request_stop`` is called; then finish cleanly.

        ``on_started`` is called once capture is running (after connecting and recovering).
        """
        self.check_ready()
        harden_process()
        self._malloc = _Malloc()
        with self.home.recorder_lock():
            self._run_locked(duration, on_started)

    def _run_locked(self, duration: float | None, on_started: Callable[[], None] | None) -> None:
        probe = connect(self.display_name)
        try:
            check_server(probe, self.display_name)
        finally:
            probe.close()
        self.key = load_spool_key(self.home, self.settings.protect.keyring)
        self.recovered = recover_open_segments(self.store, self.key)
        for rep in self.recovered:
            log.info("recovered segment %s: %s (%d messages)", rep.segment_id, rep.outcome, rep.messages)

        self.screen = X11Screen(self.display_name)
        self.windows = X11Windows(self.display_name)
        self.input = XRecordInput(self.display_name, self.screen.damage_event_code)
        self.filter = DeviceFilter(self.policy, _Lookup(self.windows), TypedTextGuard(
            functools.partial(scan, strict=True), holdback=self.settings.protect.holdback_ms / 1000.0,
            max_hold=self.settings.protect.max_hold_ms / 1000.0, partial=partial))
        base_meta = {
            "schema_version": 1,
            "recorder_version": __version__,
            "backend": "x11",
            "display": self.display_name,
            "screen": {"width": self.screen.width, "height": self.screen.height},
            "monitors": [wire(m) for m in self.screen.monitors],
            "clock": {"source": "CLOCK_MONOTONIC", "x_server_offset_ms": round(self.input.clock.offset_ms, 3)},
            "scope": {
                "allow_apps": list(self.policy.settings.allow_apps),
                "deny_apps": list(self.policy.settings.deny_apps),
            },
        }
        cap = self.settings.capture
        self.spool = SpoolWriter(
            self.store, self.key, self.settings.segments, session=self.session, base_meta=base_meta,
            encoder_factory=lambda w, h: H264Encoder(w, h, preset=cap.encoder_preset, crf=cap.encoder_crf),
            on_finished=self._segment_finished,
        )
        self.planner = FramePlanner(
            grab_interval=cap.grab_interval_ms / 1000.0,
            change_interval=cap.change_frame_interval_ms / 1000.0,
            settle=cap.settle_ms / 1000.0,
        )
        self._consent_mtime = self.consent.mtime()
        if self.identity is not None:
            self._start_enrolment()
        self.control = ControlServer(self.home.control_socket, self._on_command)
        screen_thread = threading.Thread(target=self._screen_loop, name="screen", daemon=True)
        writer_thread = threading.Thread(target=self._writer_loop, name="writer", daemon=True)
        self._events.append(Marker(t=time.monotonic(), name="recording_start",
                                   detail={"session": self.session, "display": self.display_name}))
        active = self.windows.active()
        self._events.append(FocusChange(t=time.monotonic(), window=self._with_geometry(active)))
        writer_thread.start()
        screen_thread.start()
        self.input.start(self._on_stream)
        self.control.start()
        if on_started is not None:
            on_started()
        deadline = None if duration is None else time.monotonic() + duration
        try:
            while not self._stop.is_set():
                timeout = 0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
                if self._stop.wait(timeout):
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    self.stop_reason = self.stop_reason or "duration"
                    break
                if self.input.failure is not None:
                    self.failure = self.input.failure
                    self.stop_reason = "input stream failed"
                    break
                if not writer_thread.is_alive() or not screen_thread.is_alive():
                    self.stop_reason = "internal thread stopped"
                    break
        finally:
            self._shutdown(screen_thread, writer_thread)

    # --- enrolled devices ----------------------------------------------------------------------------
    def _start_enrolment(self) -> None:
        assert self.identity is not None
        if cached_config(self.home) is None:
            self.gate.hold("config", True, "waiting for the collector's configuration")
        # The recorder delivers its own segments unless a standalone uploader already does.
        fd = os.open(self.home.run_dir / "upload.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._upload_lock_fd = fd
        except OSError:
            os.close(fd)
        upload = self.settings.upload.enabled and self._upload_lock_fd is not None
        self.enrolment = Enrolment(self.settings, self.home, self.identity, self.key, self._on_remote_config,
                                   upload=upload)
        self.enrolment.start()

    def _on_remote_config(self, cfg: dict[str, Any]) -> None:
        """Apply the collector's configuration (device-sync thread)."""
        gate = self.gate
        gate.hold("config", False)
        gate.hold("revoked", bool(cfg.get("device", {}).get("revoked")), "this device was revoked")
        prog = cfg.get("programme", {})
        gate.set_programme_paused(prog.get("state") == "paused", str(prog.get("reason", "")))
        if cfg.get("consent", {}).get("state") == "withdrawn" and self.consent.read().state == "given":
            self.consent.withdraw()
            self._consent_mtime = self.consent.mtime()
            self._withdraw()
            return
        scope = cfg.get("scope")
        if scope is None:
            gate.hold("scope", True, "no active collection scope")
            return
        policy = ScopePolicy(scope_settings(scope, self.settings.capture.scope))
        self.policy = policy
        self.filter.policy = policy
        self.streams = frozenset(scope.get("streams", STREAMS))
        self.filter.streams = self.streams
        gate.hold("scope", False)
        now = time.monotonic()
        self._events.append(Marker(t=now, name="scope",
                                   detail={"name": scope.get("name"), "version": scope.get("version")}))
        # The window in focus may have just come into (or gone out of) scope.
        self._events.append(FocusChange(t=now, window=self._with_geometry(self.windows.active())))

    def request_stop(self, reason: str = "requested") -> None:
        self.stop_reason = self.stop_reason or reason
        self._stop.set()
        self._poke()

    def _shutdown(self, screen_thread: threading.Thread, writer_thread: threading.Thread) -> None:
        deadline = time.monotonic() + 2.0
        self._stop.set()
        # 1. sources: the input stream, then the screen thread (it queues a final frame).
        self.input.stop(max(0.1, deadline - time.monotonic()))
        self._poke()
        screen_thread.join(max(0.1, deadline - time.monotonic()))
        # 2+3. the writer drains events and frames, flushes the guard, finishes the segment.
        self._frames.put(None)
        writer_thread.join(max(0.5, deadline - time.monotonic() + 1.0))
        # 4. control, then the collector link (the uploader may finish a chunk first).
        self.control.stop(0.5)
        if self.enrolment is not None:
            self.enrolment.stop(max(0.2, deadline - time.monotonic()))
        if self._upload_lock_fd is not None:
            os.close(self._upload_lock_fd)
        for closer in (self.windows.close, self.screen.close):
            try:
                closer()
            except Exception:
                log.debug("close failed", exc_info=True)
        os.close(self._wake_r)
        os.close(self._wake_w)

    # --- input stream (x11-record thread; must not block) -------------------------------------------
    def _on_stream(self, item: StreamItem) -> None:
        if not self.gate.open:
            return
        if isinstance(item, DamageNotice):
            self._screen_q.append(item)
            self._poke()
            if item.box is not None:
                self._events.append(item)  # the echo shield learns where keys appeared
            return
        if isinstance(item, InputFocusNotice):
            self._events.append(item)
            return
        if len(self._events) >= self.settings.capture.input_queue:
            self.counters.input_dropped += 1
            return
        self.counters.captured[item.kind] += 1
        self._events.append(item)
        if self._classifier.starts_action(item):
            self._screen_q.append(_Action(item.t))
            self._poke()

    def _poke(self) -> None:
        # A full pipe means a wake-up is already pending; a closed one means we are shutting down.
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"\0")

    # --- screen thread ------------------------------------------------------------------------------
    def _screen_loop(self) -> None:
        try:
            self._before: Snapshot = self.windows.sync()
            self.windows.take_trail()
            while not self._stop.is_set():
                now = time.monotonic()
                timeout = min(self.planner.next_wakeup(now), 0.25)
                try:
                    readable, _, _ = select.select([self._wake_r, self.windows.fileno()], [], [], timeout)
                except (OSError, ValueError):
                    break
                if self._wake_r in readable:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 4096)
                self.windows.pump()
                for t, info in self.windows.take_focus_events():
                    self._events.append(FocusChange(t=t, window=self._with_geometry(info)))
                self._screen_step()
            if self.gate.open:
                self._grab()
                for enc in self.planner.final():
                    self._submit(enc)
        except Exception as exc:  # thread boundary
            self.failure = exc
            log.exception("screen thread failed")
            self._stop.set()
        finally:
            self._screen_done.set()

    def _screen_step(self) -> None:
        planner = self.planner
        while self._screen_q:
            notice = self._screen_q.popleft()
            if isinstance(notice, DamageNotice):
                planner.damage(notice.t)
            else:
                for enc in planner.action(notice.t):
                    self._submit(enc)
        if not self.gate.open or "screen" not in self.streams:
            return
        if self._segment_started.is_set():
            self._segment_started.clear()
            planner.segment_started()
        now = time.monotonic()
        if planner.wants_grab(now):
            self._grab()
        for enc in planner.due(time.monotonic()):
            self._submit(enc)

    def _grab(self) -> None:
        for old in self.planner.before_grab():
            old.payload.release()
        self.screen.rearm()
        grab = self.screen.grab()
        after = self.windows.sync()
        trail = self.windows.take_trail()
        before = self._before
        self._before = after
        decide = self.policy.decide
        keep = keep_region(
            _layers(before.entries, decide), _layers(after.entries, decide),
            _layers(trail, decide), after.root,
        )
        # A title that holds a secret is stored redacted; its title bar is not shown either.
        for e in (*before.entries, *after.entries):
            if e.info is not None and self._titles.has_secret(e.info.title):
                strip = self._titles.decoration(e.info)
                if strip is not None:
                    keep = keep.minus(strip)
        windows = tuple(_visible(e, decide(e.info).allowed) for e in after.entries)
        w, h = grab.width, grab.height
        _, evicted = self.planner.new_grab(grab.t, _Shot(grab.image, grab.monitors, windows, keep, w, h,
                                                          self.screen.pool))
        for old in evicted:
            old.payload.release()
        self.counters.grabs += 1

    def _submit(self, enc: Encode) -> None:
        shot: _Shot = enc.grab.payload
        if shot.mask() >= shot.width * shot.height:
            return  # nothing in scope on this frame: it is not recorded
        self._seq += 1
        meta = FrameMeta(
            t=enc.stamp, seq=self._seq, reason=enc.reason, grabbed_at=enc.grab.t,
            width=shot.width, height=shot.height, keyframe=False,
            monitors=shot.monitors, windows=shot.windows, masked_area=shot.masked_area,
        )
        shot.hold()
        try:
            self._frames.put_nowait((ScreenImage(meta=meta, image=shot.image), shot))
            self.counters.frames_queued += 1
        except queue.Full:
            shot.release()
            self.counters.frames_dropped["queue_full"] += 1
            self._events.append(FrameDrop(t=enc.stamp, reason="queue_full"))

    # --- writer thread ------------------------------------------------------------------------------
    def _writer_loop(self) -> None:
        try:
            self._writer_run()
        except Exception as exc:  # thread boundary
            self.failure = exc
            log.exception("writer thread failed")
            self._stop.set()
            try:
                self.spool.close("error")
            except Exception:
                log.exception("could not finish the segment after a writer failure")

    def _writer_run(self) -> None:
        spool = self.spool
        flt = self.filter
        last_consent_check = 0.0
        while True:
            stopping = self._stop.is_set() and self._screen_done.is_set()
            if self._events:
                now = time.monotonic()
                # Pointer events are judged against window geometry; make it fresh unless the
                # screen thread synced moments ago (it does on every grab).
                if now - self.windows.snapshot().synced_at > 0.1 and any(
                        isinstance(e, MouseMove | MouseButton | Scroll) for e in itertools.islice(self._events, 64)):
                    self.windows.sync()
                n = 0
                while self._events and n < 5000:
                    item = self._events.popleft()
                    if isinstance(item, Marker) and item.name == "scope":
                        # Segments are stamped with the scope version they are captured under.
                        spool.set_scope(item.detail.get("name"), item.detail.get("version"))
                    for rec in flt.apply(item):
                        spool.write(rec)
                        self.counters.written[rec.record.kind] += 1
                    n += 1
            try:
                frame = self._frames.get(timeout=0.0 if self._events else 0.05)
            except queue.Empty:
                frame = None
            else:
                if frame is None:
                    if self._events or not self._frames.empty():
                        self._frames.put(None)  # drain first; the stop marker comes back around
                        continue
                    break
                image, shot = frame
                try:
                    shielded = flt.protect_frame(image, shot.image.planes[0], time.monotonic())
                    if shielded:
                        image = ScreenImage(msgspec.structs.replace(image.meta, shielded_area=shielded), image.image)
                    spool.write_frame(Protected(image))
                finally:
                    shot.release()
                self.counters.frames_written += 1
            now = time.monotonic()
            for rec in flt.tick(now):
                spool.write(rec)
                self.counters.written[rec.record.kind] += 1
            if self.gate.tick():
                self._events.append(Marker(t=now, name="resume", detail={"by": "timer"}))
            if now - last_consent_check >= 0.5:
                last_consent_check = now
                self._watch_consent()
            self._malloc.trim(now)
            if spool.tick(now):
                self._segment_started.set()
                self._poke()
            if stopping and not self._events and self._frames.empty():
                break
        for rec in flt.flush():
            spool.write(rec)
            self.counters.written[rec.record.kind] += 1
        while self._events:
            for rec in flt.apply(self._events.popleft()):
                spool.write(rec)
        spool.write(Protected(Marker(t=time.monotonic(), name="recording_stop",
                                     detail={"reason": self.stop_reason or "stop"})))
        spool.close("stop")

    def _watch_consent(self) -> None:
        mtime = self.consent.mtime()
        if mtime == self._consent_mtime:
            return
        self._consent_mtime = mtime
        if self.consent.read().state != "given":
            self._withdraw()

    def _withdraw(self) -> None:
        self.gate.withdraw()
        discarded = self.filter.discard()
        self._events.clear()
        self._screen_q.clear()
        log.info("consent withdrawn: capture stopped, %d held key events discarded", discarded)
        self.request_stop("consent withdrawn")

    def _segment_finished(self, path: Any) -> None:
        log.info("segment finished: %s", path.name)

    # --- control ------------------------------------------------------------------------------------
    def _on_command(self, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        now = time.monotonic()
        if cmd == "status":
            return {"ok": True, "status": self.status()}
        if cmd == "stop":
            self.request_stop("stop command")
            return {"ok": True}
        if cmd == "pause":
            seconds = args.get("seconds")
            if seconds is not None and (not isinstance(seconds, int | float) or seconds <= 0 or seconds > 7 * 86400):
                return {"ok": False, "error": "pause duration must be between 1 second and 7 days"}
            was_open = self.gate.open
            self.gate.pause(float(seconds) if seconds else None)
            self._screen_q.clear()
            if was_open:
                self._events.append(Marker(t=now, name="pause", detail={"seconds": seconds}))
            return {"ok": True, "status": self.status()}
        if cmd == "resume":
            self.gate.resume()
            self._events.append(Marker(t=now, name="resume", detail={"by": "command"}))
            return {"ok": True, "status": self.status()}
        if cmd == "withdraw":
            self._withdraw()
            return {"ok": True}
        if cmd in ("task_start", "task_end"):
            title = args.get("title", "")
            if not isinstance(title, str) or len(title) > 500:
                return {"ok": False, "error": "task title must be a string of at most 500 characters"}
            # The contributor's own words still pass the detector before they are stored.
            detail = {"title": redact_text(title)[0]} if title else {}
            self._events.append(Marker(t=now, name="task_start" if cmd == "task_start" else "task_end",
                                       detail=detail))
            return {"ok": True}
        return {"ok": False, "error": f"unknown command {cmd!r}"}

    def status(self) -> dict[str, Any]:
        g = self.gate.status()
        c = self.counters
        return {
            "state": "recording" if g.open else ("withdrawn" if g.withdrawn else "paused"),
            "reason": g.reason,
            "paused_until": (datetime.fromtimestamp(g.paused_until, UTC).isoformat(timespec="seconds")
                             if g.paused_until else None),
            "pid": os.getpid(),
            "display": self.display_name,
            "session": self.session,
            "uptime_s": round(time.monotonic() - self.started_at, 1),
            "segment": self.spool.current_id,
            "segment_bytes": self.spool.current_bytes,
            "segments_finished": len(self.spool.finished),
            "events_captured": {k: c.captured.get(k, 0) for k in EVENT_KINDS},
            "events_written": dict(c.written),
            "frames": c.frames_written,
            "frames_dropped": dict(c.frames_dropped),
            "grabs": c.grabs,
            "input_queue": len(self._events),
            "input_dropped": c.input_dropped,
            "held_keys": self.filter.guard.held,
            "suppressed": dict(self.filter.suppressed),
            "redactions": self.filter.guard.redactions,
            "shield": {"taints": self.filter.shield.taints, "frames": self.filter.shield.frames_shielded,
                       "pixels": self.filter.shield.pixels_filled},
            "resources": {**_resources(), "images": self.screen.pool.allocated},
            "collector": self.enrolment.status() if self.enrolment is not None else None,
        }

    # --- helpers --------------------------------------------------------------------------------------
    def _with_geometry(self, info: WindowInfo | None) -> WindowInfo | None:
        if info is None:
            return None
        for e in self.windows.snapshot().entries:
            if e.info is not None and e.info.window_id == info.window_id:
                return e.info
        return info


def _resources() -> dict[str, float]:
    """This process's CPU seconds and memory (PSS/RSS in MB), read from its own /proc entries.

    Reported by the recorder itself because a non-dumpable process's /proc files are not
    readable by other processes of the same user.
    """
    t = os.times()
    out = {"cpu_s": round(t.user + t.system, 3), "pss_mb": 0.0, "rss_mb": 0.0,
           "threads": float(threading.active_count())}
    try:
        with open("/proc/self/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    out["pss_mb"] = round(int(line.split()[1]) / 1024, 1)
                elif line.startswith("Rss:"):
                    out["rss_mb"] = round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    try:
        class _MI(ctypes.Structure):
            _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                       "fsmblks", "uordblks", "fordblks", "keepcost")]
        libc = ctypes.CDLL(None)
        libc.mallinfo2.restype = _MI
        mi = libc.mallinfo2()
        out["heap_mb"] = round(mi.arena / 2**20, 1)
        out["heap_used_mb"] = round(mi.uordblks / 2**20, 1)
        out["mmap_mb"] = round(mi.hblkhd / 2**20, 1)
    except (OSError, AttributeError):
        pass
    return out


class _Lookup:
    """Adapts the window model to what the privacy filter asks."""

    def __init__(self, windows: X11Windows) -> None:
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


def _visible(e: StackEntry, in_scope: bool) -> VisibleWindow:
    """A stacking entry as a frame records it: only in-scope windows are named."""
    if in_scope and e.info is not None:
        return VisibleWindow(e.info.window_id, e.info.wm_class, e.outer, True, False)
    return VisibleWindow(0, "", e.outer, False, True)


def _layers(entries: Any, decide: Any) -> list[Layer]:
    out = []
    for e in entries:
        assert isinstance(e, StackEntry)
        out.append(Layer(e.outer, decide(e.info).allowed))
    return out


__all__ = ["Recorder", "Rect"]
