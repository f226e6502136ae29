"""The recorder's ``screen`` thread: when to grab, masking each grab, queueing frames (device zone).

Owns the frame planner, the window model's event pump and its own copy of the collection scope
(updated only through its inbox). It grabs after changes and before actions, computes at grab
time which pixels may be shown (``protect.masking``: both window-model syncs around the grab, and
every position an out-of-scope window held in between), fills the rest when a grab is chosen for
encoding, and queues the image for the writer. It also turns the window model's focus changes
into ``FocusChange`` records for the writer. Nothing it does blocks on the writer: a full frame
queue drops the frame, counted and recorded.
"""

from __future__ import annotations

import logging
import queue
import select
import time
from collections.abc import Callable, Iterable

from jobshadow.agent.pipeline import ActionNotice, Channels, Counters, PolicyUpdate, Shot, take
from jobshadow.capture.backend import DamageNotice, ScreenGrabber, Snapshot, StackEntry, WindowModel
from jobshadow.capture.framing import Encode, FramePlanner
from jobshadow.protect.gate import CaptureGate
from jobshadow.protect.masking import Layer, keep_region
from jobshadow.protect.scope import ScopeDecision, ScopePolicy
from jobshadow.protect.titles import TitleGuard
from jobshadow.records import FocusChange, FrameDrop, FrameMeta, ScreenImage, VisibleWindow, WindowInfo

log = logging.getLogger(__name__)


def with_geometry(windows: WindowModel, info: WindowInfo | None) -> WindowInfo | None:
    """``info`` with the geometry the last snapshot shows for it (any thread)."""
    if info is None:
        return None
    for e in windows.snapshot().entries:
        if e.info is not None and e.info.window_id == info.window_id:
            return e.info
    return info


class ScreenWorker:
    def __init__(self, channels: Channels, counters: Counters, gate: CaptureGate, windows: WindowModel,
                 screen: ScreenGrabber, planner: FramePlanner, policy: ScopePolicy, streams: frozenset[str],
                 fail: Callable[[BaseException], None]) -> None:
        self.ch = channels
        self.counters = counters
        self.gate = gate
        self.windows = windows
        self.screen = screen
        self.planner = planner
        self.policy = policy
        self.streams = streams
        self._fail = fail
        self._titles = TitleGuard()  # this thread's own (the writer's filter has another)
        self._seq = 0
        self._before: Snapshot | None = None

    def run(self) -> None:
        """The thread's body: until stop, then a final frame (if the screen may be recorded)."""
        ch = self.ch
        try:
            self._before = self.windows.sync()
            self.windows.take_trail()
            while not ch.stop.is_set():
                timeout = min(self.planner.next_wakeup(time.monotonic()), 0.25)
                try:
                    readable, _, _ = select.select([ch.wake_fd, self.windows.fileno()], [], [], timeout)
                except (OSError, ValueError):
                    break
                if ch.wake_fd in readable:
                    ch.drain_wake()
                for t, info in self.windows.pump():
                    ch.events.append(FocusChange(t=t, window=with_geometry(self.windows, info)))
                self.step()
            if self.gate.open and "screen" in self.streams:
                self._grab()
                for enc in self.planner.final():
                    self._submit(enc)
        except Exception as exc:  # thread boundary
            log.exception("screen thread failed")
            self._fail(exc)
        finally:
            ch.screen_done.set()

    def step(self) -> None:
        """Apply the inbox, then grab and queue whatever the planner says is due."""
        planner = self.planner
        while (notice := take(self.ch.screen)) is not None:
            if isinstance(notice, DamageNotice):
                planner.damage(notice.t)
            elif isinstance(notice, PolicyUpdate):
                self.policy, self.streams = notice.policy, notice.streams
            elif isinstance(notice, ActionNotice):
                for enc in planner.action(notice.t):
                    self._submit(enc)
        if not self.gate.open or "screen" not in self.streams:
            return
        if self.ch.segment_started.is_set():
            self.ch.segment_started.clear()
            planner.segment_started()
        if planner.wants_grab(time.monotonic()):
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
        before = self._before or after
        self._before = after
        decide = self.policy.decide
        keep = keep_region(_layers(before.entries, decide), _layers(after.entries, decide), _layers(trail, decide),
                           after.root)
        # A title that holds a secret is stored redacted; its title bar is not shown either.
        for e in (*before.entries, *after.entries):
            if e.info is not None and self._titles.has_secret(e.info.title):
                strip = self._titles.decoration(e.info)
                if strip is not None:
                    keep = keep.minus(strip)
        windows = tuple(_visible(e, decide(e.info).allowed) for e in after.entries)
        shot = Shot(grab.image, grab.monitors, windows, keep, grab.width, grab.height, self.screen.release)
        _, evicted = self.planner.new_grab(grab.t, shot)
        for old in evicted:
            old.payload.release()
        self.counters.grabs += 1

    def _submit(self, enc: Encode) -> None:
        shot: Shot = enc.grab.payload
        if shot.mask() >= shot.width * shot.height:
            return  # nothing in scope on this frame: it is not recorded
        self._seq += 1
        meta = FrameMeta(t=enc.stamp, seq=self._seq, reason=enc.reason, grabbed_at=enc.grab.t, width=shot.width,
                         height=shot.height, keyframe=False, monitors=shot.monitors, windows=shot.windows,
                         masked_area=shot.masked_area)
        shot.hold()
        try:
            self.ch.frames.put_nowait((ScreenImage(meta=meta, image=shot.image), shot))
            self.counters.frames_queued += 1
        except queue.Full:
            shot.release()
            self.counters.frames_dropped["queue_full"] += 1
            self.ch.events.append(FrameDrop(t=enc.stamp, reason="queue_full"))


def _visible(e: StackEntry, in_scope: bool) -> VisibleWindow:
    """A stacking entry as a frame records it: only in-scope windows are named."""
    if in_scope and e.info is not None:
        return VisibleWindow(e.info.window_id, e.info.wm_class, e.outer, True, False)
    return VisibleWindow(0, "", e.outer, False, True)


def _layers(entries: Iterable[StackEntry], decide: Callable[[WindowInfo | None], ScopeDecision]) -> list[Layer]:
    return [Layer(e.outer, decide(e.info).allowed) for e in entries]
