"""What the recorder's threads hand each other: inboxes, notices, the frame queue, counters (device zone).

Each inbox has one owner, the only thread that pops from it; the others only append (a deque's
``append``/``appendleft``/``popleft`` are atomic, and owners pop with ``take``, which tolerates a
concurrent ``clear``). Nothing but an inbox item changes what another thread owns: a new
collection scope reaches the privacy filter as a ``PolicyUpdate`` in the writer's inbox, in order
with the events it applies to, and a withdrawal as a ``Discard`` that everything queued before it
is dropped up to (``withdraw``).

* ``events`` — the ``writer`` thread's inbox: input records and notices (capture thread), focus
  changes and frame drops (screen thread), markers (control, sync), ``PolicyUpdate``/``Discard``.
* ``screen`` — the ``screen`` thread's inbox: damage and action notices (capture thread),
  ``PolicyUpdate`` (sync thread).
* ``frames`` — masked images from the screen thread to the writer; bounded, so frames (and only
  frames) are dropped, counted, when the encoder falls behind.

Counters are plain integers, each written by one thread (named beside it) and read by the
control thread's status without a lock: a status may be a moment old, never wrong by more.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from jobshadow.capture.backend import DamageNotice
from jobshadow.protect.filter import FilterInput
from jobshadow.protect.masking import Region, apply_mask
from jobshadow.protect.scope import ScopePolicy
from jobshadow.records import ScreenImage, VisibleWindow

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ActionNotice:
    """An input record at ``t`` starts an action: the screen thread plans a before-action frame."""

    t: float


@dataclass(frozen=True, slots=True)
class PolicyUpdate:
    """A new collection scope: the owning thread switches to it at this point of its inbox."""

    policy: ScopePolicy
    streams: frozenset[str]


@dataclass(frozen=True, slots=True)
class Discard:
    """Consent was withdrawn here: the writer drops what its filters hold and everything queued before."""


WriterItem = FilterInput | PolicyUpdate | Discard
ScreenItem = DamageNotice | ActionNotice | PolicyUpdate


@dataclass
class Shot:
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
    give_back: Callable[[Any], None]  # the grabber's ``release``
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
            self.give_back(self.image)


@dataclass
class Counters:
    captured: collections.Counter[str] = field(default_factory=collections.Counter)  # capture thread
    written: collections.Counter[str] = field(default_factory=collections.Counter)  # writer
    frames_queued: int = 0  # screen
    frames_written: int = 0  # writer
    frames_dropped: collections.Counter[str] = field(default_factory=collections.Counter)  # screen
    grabs: int = 0  # screen
    input_dropped: int = 0  # capture thread


class Channels:
    """The inboxes, the frame queue and the events that sequence start and stop."""

    def __init__(self, frame_queue: int) -> None:
        self.events: collections.deque[WriterItem] = collections.deque()
        self.screen: collections.deque[ScreenItem] = collections.deque()
        self.frames: queue.Queue[tuple[ScreenImage, Shot] | None] = queue.Queue(maxsize=frame_queue)
        self.stop = threading.Event()  # set once: every thread winds down
        self.screen_done = threading.Event()  # the screen thread queued its last frame
        self.segment_started = threading.Event()  # writer → screen: a new segment wants a keyframe
        self.discard_pending = threading.Event()  # a Discard waits in ``events``: drop what is before it
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._wake_r, False)

    @property
    def wake_fd(self) -> int:
        """Readable when ``poke`` was called (the screen thread selects on it)."""
        return self._wake_r

    def poke(self) -> None:
        """Wake the screen thread (never blocks; any thread)."""
        # A full pipe means a wake-up is already pending; a closed one means we are shutting down.
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"\0")

    def drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.read(self._wake_r, 4096)

    def withdraw(self) -> None:
        """Consent was withdrawn (any thread; the gate is already closed): nothing queued is written."""
        self.screen.clear()
        self.events.append(Discard())
        self.discard_pending.set()

    def close(self) -> None:
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)


def take(inbox: collections.deque[T]) -> T | None:
    """The next item of an inbox, or None (another thread may have cleared it meanwhile)."""
    try:
        return inbox.popleft()
    except IndexError:
        return None
