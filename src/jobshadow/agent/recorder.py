"""The recorder: wires capture → protect → spool and runs it until told to stop (device zone).

Threads and what each owns (``agent.pipeline`` says how they hand things to each other):

* the input source's reading thread (``x11-record`` on X11) runs ``_on_stream``: it only checks
  the gate, appends to the writer's and the screen thread's inboxes and pokes the screen thread.
  It never blocks.
* ``screen`` (``agent.screen_worker``) owns the frame planner and its copy of the collection scope:
  it grabs after changes and before actions, masks each grab (protect) and queues images for
  encoding. It also pumps the window model.
* ``writer`` (``agent.writer_worker``) owns the privacy filter, the typed-text guard and the spool
  writer: it filters and writes events, encodes queued frames, flushes at least every
  ``flush_seconds`` and rotates.
* ``control`` answers the Unix control socket (``agent.commands``, a table of handlers).
* when the device is enrolled, ``device-sync`` follows the collector's configuration (scope, kill
  switch, consent) and ``uploader`` delivers finished segments (``agent.device_agent``). The sync
  thread changes only the capture gate (thread-safe) and hands a new scope to the screen and
  writer threads through their inboxes; it never touches what they own.

Memory is bounded: the frame queue holds ``frame_queue`` images and drops (counted, recorded as
``frame_drop`` events) when the encoder falls behind; events are never dropped below the
``input_queue`` bound.

Shutdown order is fixed (``stopped`` lists the steps as they are done): stop sources (input
stream, then the screen thread after a final frame), drain the filters (held-back keys are
scanned and written), finish the segment, stop the control socket, then the collector link, then
close the backend. Every step gets what remains of one deadline.

The capture backend is X11 unless ``backend`` is given (``jobshadow.testing.capture`` has an
in-memory one, so the whole recorder runs in a test without an X server).
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from jobshadow import __version__
from jobshadow.agent.commands import Commands
from jobshadow.agent.control import ControlServer
from jobshadow.agent.device_agent import Enrolment, scope_settings
from jobshadow.agent.pipeline import ActionNotice, Channels, Counters, PolicyUpdate
from jobshadow.agent.screen_worker import ScreenWorker, with_geometry
from jobshadow.agent.tuning import Malloc, harden_process, resources
from jobshadow.agent.writer_worker import WindowLookup, WriterWorker
from jobshadow.capture.backend import BackendFactory, DamageNotice, InputFocusNotice, StreamItem
from jobshadow.capture.framing import ActionClassifier, FramePlanner
from jobshadow.config import Settings
from jobshadow.device_api import DeviceConfig
from jobshadow.errors import ConsentError
from jobshadow.home import Home
from jobshadow.protect.consent import ConsentStore
from jobshadow.protect.filter import DeviceFilter
from jobshadow.protect.gate import CaptureGate
from jobshadow.protect.scope import ScopePolicy
from jobshadow.protect.typed_text import TypedTextGuard
from jobshadow.protocol import STREAMS
from jobshadow.records import INPUT_KINDS, FocusChange, Marker, wire
from jobshadow.segment.video import H264Encoder
from jobshadow.sensitive import partial, scan
from jobshadow.spool.keys import SpoolKey, load_spool_key
from jobshadow.spool.recovery import RecoveryReport, recover_open_segments
from jobshadow.spool.store import SpoolStore, new_session_id
from jobshadow.spool.writer import SpoolWriter
from jobshadow.upload.identity import load_identity
from jobshadow.upload.sync import cached_config

log = logging.getLogger(__name__)

SHUTDOWN_S = 2.0


class Recorder:
    def __init__(self, settings: Settings, *, display: str | None = None, backend: BackendFactory | None = None,
                 tune: bool = True) -> None:
        """``backend`` opens the capture sources (default: the X11 display); ``tune`` hardens and
        tunes the process (off only where the recorder shares a process, as in tests)."""
        self.settings = settings
        self.home = Home(settings.home).ensure()
        if backend is None:
            from jobshadow.capture.x11.display import open_x11, resolve_display

            self.display_name = resolve_display(display or settings.capture.display)
            backend = functools.partial(open_x11, self.display_name)
        else:
            self.display_name = display or "in-process"
        self._open_backend = backend
        self._tune = tune
        self.policy = ScopePolicy(settings.capture.scope)
        self.consent = ConsentStore(self.home)
        self.gate = CaptureGate()
        self.counters = Counters()
        self.session = new_session_id()
        self.store = SpoolStore(self.home)
        self.recovered: list[RecoveryReport] = []
        self.started_at = time.monotonic()
        self.ch = Channels(settings.capture.frame_queue)
        self._classifier = ActionClassifier()  # the input source's reading thread's own
        self.stop_reason = ""
        self.failure: BaseException | None = None
        self.stopped: list[str] = []  # shutdown steps, in the order they were done
        self.identity = load_identity(self.home)
        self.enrolment: Enrolment | None = None
        self._upload_lock_fd: int | None = None
        self._malloc = Malloc() if tune else None

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
        if self._tune:
            harden_process()
        with self.home.recorder_lock():
            self._run_locked(duration, on_started)

    def _run_locked(self, duration: float | None, on_started: Callable[[], None] | None) -> None:
        self.backend = self._open_backend()
        try:
            self.key = load_spool_key(self.home, self.settings.protect.keyring)
            self.recovered = recover_open_segments(self.store, self.key)
        except BaseException:
            self.backend.close()
            raise
        for rep in self.recovered:
            log.info("recovered segment %s: %s (%d messages)", rep.segment_id, rep.outcome, rep.messages)
        self.display_name = self.backend.display
        windows, screen = self.backend.windows, self.backend.screen
        self.filter = DeviceFilter(self.policy, WindowLookup(windows), TypedTextGuard(
            functools.partial(scan, strict=True), holdback=self.settings.protect.holdback_ms / 1000.0,
            max_hold=self.settings.protect.max_hold_ms / 1000.0, partial=partial))
        self.spool = self._spool(self.key)
        cap = self.settings.capture
        planner = FramePlanner(grab_interval=cap.grab_interval_ms / 1000.0,
                               change_interval=cap.change_frame_interval_ms / 1000.0, settle=cap.settle_ms / 1000.0)
        self.screen_worker = ScreenWorker(self.ch, self.counters, self.gate, windows, screen, planner, self.policy,
                                          frozenset(STREAMS), self._fail)
        self.writer = WriterWorker(self.ch, self.counters, self.gate, self.filter, self.spool, windows, self.consent,
                                   withdraw=self.withdraw, stop_reason=lambda: self.stop_reason,
                                   trim=self._malloc.trim if self._malloc else lambda now: None, fail=self._fail)
        self.ch.events.append(Marker(t=time.monotonic(), name="recording_start",
                                     detail={"session": self.session, "display": self.display_name}))
        if self.identity is not None:
            self._start_enrolment(self.key)
        self.ch.events.append(FocusChange(t=time.monotonic(), window=with_geometry(windows, windows.active())))
        self.control = ControlServer(self.home.control_socket, Commands(
            self.gate, self.ch, status=self.status, request_stop=self.request_stop, withdraw=self.withdraw).handle)
        screen_thread = threading.Thread(target=self.screen_worker.run, name="screen", daemon=True)
        writer_thread = threading.Thread(target=self.writer.run, name="writer", daemon=True)
        writer_thread.start()
        screen_thread.start()
        self.backend.input.start(self._on_stream)
        self.control.start()
        if on_started is not None:
            on_started()
        try:
            self._wait(duration, screen_thread, writer_thread)
        finally:
            self._shutdown(screen_thread, writer_thread)

    def _spool(self, key: SpoolKey) -> SpoolWriter:
        screen = self.backend.screen
        base_meta = {
            "schema_version": 1,
            "recorder_version": __version__,
            "backend": self.backend.name,
            "display": self.display_name,
            "screen": {"width": screen.width, "height": screen.height},
            "monitors": [wire(m) for m in screen.monitors],
            "clock": {"source": "CLOCK_MONOTONIC",
                      "x_server_offset_ms": round(self.backend.input.clock_offset_ms, 3)},
            "scope": {
                "allow_apps": list(self.policy.settings.allow_apps),
                "deny_apps": list(self.policy.settings.deny_apps),
            },
        }
        cap = self.settings.capture
        return SpoolWriter(
            self.store, key, self.settings.segments, session=self.session, base_meta=base_meta,
            encoder_factory=lambda w, h: H264Encoder(w, h, preset=cap.encoder_preset, crf=cap.encoder_crf),
            on_finished=lambda path: log.info("segment finished: %s", path.name),
        )

    def _wait(self, duration: float | None, screen_thread: threading.Thread, writer_thread: threading.Thread) -> None:
        deadline = None if duration is None else time.monotonic() + duration
        while not self.ch.stop.is_set():
            timeout = 0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
            if self.ch.stop.wait(timeout):
                return
            if deadline is not None and time.monotonic() >= deadline:
                self.stop_reason = self.stop_reason or "duration"
                return
            if self.backend.input.failure is not None:
                self.failure = self.backend.input.failure
                self.stop_reason = "input stream failed"
                return
            if not writer_thread.is_alive() or not screen_thread.is_alive():
                self.stop_reason = "internal thread stopped"
                return

    def request_stop(self, reason: str = "requested") -> None:
        self.stop_reason = self.stop_reason or reason
        self.ch.stop.set()
        self.ch.poke()

    def withdraw(self) -> None:
        """Consent withdrawn (any thread): the gate closes at once, nothing queued is written, stop."""
        self.gate.withdraw()
        self.ch.withdraw()
        self.request_stop("consent withdrawn")

    def _fail(self, exc: BaseException) -> None:
        """A worker thread died (its own boundary logged it): stop, reporting why."""
        self.failure = exc
        self.ch.stop.set()

    def _shutdown(self, screen_thread: threading.Thread, writer_thread: threading.Thread) -> None:
        deadline = time.monotonic() + SHUTDOWN_S

        def left(floor: float) -> float:
            return max(floor, deadline - time.monotonic())

        self.ch.stop.set()
        # 1. sources: the input stream, then the screen thread (it queues a final frame).
        self.backend.input.stop(left(0.1))
        self.stopped.append("input")
        self.ch.poke()
        screen_thread.join(left(0.1))
        self.stopped.append("screen")
        # 2+3. the writer drains events and frames, flushes the guard, finishes the segment.
        self.ch.frames.put(None)
        writer_thread.join(left(0.5) + 1.0)
        self.stopped.append("writer")
        # 4. control, then the collector link (the uploader may finish a chunk first).
        self.control.stop(0.5)
        self.stopped.append("control")
        if self.enrolment is not None:
            self.enrolment.stop(left(0.2))
            self.stopped.append("collector")
        if self._upload_lock_fd is not None:
            os.close(self._upload_lock_fd)
        self.backend.close()
        self.ch.close()
        self.stopped.append("backend")

    # --- enrolled devices ----------------------------------------------------------------------------
    def _start_enrolment(self, key: SpoolKey) -> None:
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
        self.enrolment = Enrolment(self.settings, self.home, self.identity, key, self._on_remote_config,
                                   upload=upload)
        self.enrolment.start()

    def _on_remote_config(self, cfg: DeviceConfig) -> None:
        """Apply the collector's configuration (device-sync thread; at start, the caller's)."""
        gate = self.gate
        gate.hold("config", False)
        gate.hold("revoked", cfg.device.revoked, "this device was revoked")
        gate.set_programme_paused(cfg.programme.state == "paused", cfg.programme.reason)
        if cfg.consent.state == "withdrawn" and self.consent.read().state == "given":
            self.consent.withdraw()
            self.withdraw()
            return
        scope = cfg.scope
        if scope is None:
            gate.hold("scope", True, "no active collection scope")
            return
        update = PolicyUpdate(ScopePolicy(scope_settings(scope, self.settings.capture.scope)), frozenset(scope.streams))
        # The screen and writer threads switch at this point of their own streams.
        self.ch.screen.append(update)
        self.ch.events.append(update)
        gate.hold("scope", False)
        now = time.monotonic()
        self.ch.events.append(Marker(t=now, name="scope", detail={"name": scope.name, "version": scope.version}))
        # The window in focus may have just come into (or gone out of) scope.
        windows = self.backend.windows
        self.ch.events.append(FocusChange(t=now, window=with_geometry(windows, windows.active())))

    # --- input stream (the source's reading thread; must not block) -----------------------------------
    def _on_stream(self, item: StreamItem) -> None:
        if not self.gate.open:
            return
        ch = self.ch
        if isinstance(item, DamageNotice):
            ch.screen.append(item)
            ch.poke()
            if item.box is not None:
                ch.events.append(item)  # the echo shield learns where keys appeared
            return
        if isinstance(item, InputFocusNotice):
            ch.events.append(item)
            return
        if len(ch.events) >= self.settings.capture.input_queue:
            self.counters.input_dropped += 1
            return
        self.counters.captured[item.kind] += 1
        ch.events.append(item)
        if self._classifier.starts_action(item):
            ch.screen.append(ActionNotice(item.t))
            ch.poke()

    # --- status (control thread; counters are read without a lock) -------------------------------------
    def status(self) -> dict[str, Any]:
        g = self.gate.status()
        c = self.counters
        flt = self.filter
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
            "events_captured": {k: c.captured.get(k, 0) for k in INPUT_KINDS},
            "events_written": dict(c.written),
            "frames": c.frames_written,
            "frames_dropped": dict(c.frames_dropped),
            "grabs": c.grabs,
            "input_queue": len(self.ch.events),
            "input_dropped": c.input_dropped,
            "held_keys": flt.guard.held,
            "suppressed": dict(flt.suppressed),
            "redactions": flt.guard.redactions,
            "shield": {"taints": flt.shield.taints, "frames": flt.shield.frames_shielded,
                       "pixels": flt.shield.pixels_filled},
            "resources": {**resources(), "images": self.backend.screen.images},
            "collector": self.enrolment.status() if self.enrolment is not None else None,
        }


__all__ = ["Recorder"]
