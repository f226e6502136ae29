"""The capture boundary: what a platform backend gives the recorder, and how it is driven (device zone).

A backend (X11 today, ``jobshadow.capture.x11``; macOS and Windows can follow; an in-memory one
for tests in ``jobshadow.testing.capture``) provides three sources, bundled as a ``CaptureBackend``:

* ``InputSource`` — the ordered input stream. It calls the sink it is given on its own reading
  thread; the sink never blocks (it appends to a queue and returns).
* ``WindowModel`` — top-level windows, their stacking and the active one, kept current by
  window-manager events. The recorder's ``screen`` thread drives it (``pump``, ``sync``,
  ``take_trail``); any thread may read it (``snapshot``, ``window``, ``active``).
* ``ScreenGrabber`` — full-screen grabs into reusable images, and the change tracking that makes
  the backend send ``DamageNotice``s. Only the ``screen`` thread grabs; ``release`` may come from
  the ``writer`` thread once a frame is encoded.

The input stream carries, in the server's order, raw input records plus two notices that later
stages need to be exact about time: ``DamageNotice`` (the screen started changing) and
``InputFocusNotice`` (keyboard focus moved). Ordering them with the input in one stream is what
lets the frame scheduler say, for every click, which frame shows the screen just before it.

Privacy depends on one property of every ``WindowModel``: after ``sync()`` returns, every window
change made before the sync is reflected in the model, and every window that changed since the
last ``take_trail()`` is listed in the trail — so a frame grabbed between two syncs can be masked
conservatively (see ``jobshadow.protect.masking``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from jobshadow.records import InputRecord, Monitor, Rect, WindowInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DamageNotice:
    """The screen content changed at ``t``.

    ``box`` is the bounding box, in screen pixels, of everything that changed since the last
    grab re-armed change tracking (it only grows until the next grab), or None when the backend
    cannot say where. The echo shield (``jobshadow.protect.echo``) uses it to find where typed
    characters appeared on screen.
    """

    t: float
    box: Rect | None = None


@dataclass(frozen=True, slots=True)
class InputFocusNotice:
    """Keyboard focus moved to ``window_id`` (None: no window, or focus follows the pointer)."""

    t: float
    window_id: int | None


StreamItem = InputRecord | DamageNotice | InputFocusNotice
StreamSink = Callable[[StreamItem], None]
FocusEvent = tuple[float, WindowInfo | None]


@dataclass(frozen=True)
class StackEntry:
    """One visible top-level window in a snapshot (bottom to top), with the client it shows."""

    wid: int
    outer: Rect
    info: WindowInfo | None  # None: nobody can say which application drew it
    popup: bool


@dataclass(frozen=True)
class Snapshot:
    """Visible windows, bottom to top, as of the sync that produced it."""

    entries: tuple[StackEntry, ...]
    synced_at: float
    root: Rect

    def window_at(self, x: int, y: int) -> StackEntry | None:
        for e in reversed(self.entries):
            if e.outer.contains(x, y):
                return e
        return None


@dataclass(frozen=True)
class Grab:
    """One screen image of the full root window and when it was taken.

    ``image`` is a BGRA ``av.VideoFrame`` whose single plane holds ``width * 4``-byte rows: the
    grab lands in the very buffer the encoder reads, so pixels are copied once and no array
    library is loaded on the laptop. It belongs to the grabber's pool: give it back with
    ``ScreenGrabber.release``.
    """

    t: float
    image: Any
    width: int
    height: int
    monitors: tuple[Monitor, ...]


class InputSource(Protocol):
    """The ordered input stream."""

    @property
    def failure(self) -> BaseException | None:
        """Why the stream stopped on its own (None while it runs); the recorder polls it."""
        ...

    @property
    def clock_offset_ms(self) -> float:
        """How the source's clock was mapped to ``time.monotonic`` (recorded in segment metadata)."""
        ...

    def start(self, sink: StreamSink) -> None:
        """Start the reading thread; ``sink`` is called on it, in stream order. Does not block."""
        ...

    def stop(self, timeout: float) -> None:
        """Stop reading and join the thread (at most ``timeout``); the sink is not called after."""
        ...


class WindowModel(Protocol):
    """Top-level windows and focus, kept current by window-manager events (thread-safe)."""

    def fileno(self) -> int:
        """A descriptor that is readable when window events wait (the screen thread selects on it)."""
        ...

    def pump(self) -> list[FocusEvent]:
        """Apply waiting events without a round trip; the focus changes due since the last call."""
        ...

    def sync(self) -> Snapshot:
        """Round trip to the window system, apply every change made before it, return a snapshot."""
        ...

    def snapshot(self) -> Snapshot:
        """The snapshot of the last ``sync`` (cheap; any thread)."""
        ...

    def take_trail(self) -> list[StackEntry]:
        """Every state of every window that changed since the last call (for conservative masks)."""
        ...

    def window(self, window_id: int) -> WindowInfo | None:
        """Identity of the client that owns ``window_id`` (a client, its frame or a subwindow)."""
        ...

    def active(self) -> WindowInfo | None: ...

    def close(self) -> None: ...


class ScreenGrabber(Protocol):
    """Grabs the whole screen into pooled images; ``rearm`` clears change tracking before a grab."""

    width: int
    height: int
    monitors: tuple[Monitor, ...]

    @property
    def images(self) -> int:
        """Images allocated so far (the pool's size; reported in status)."""
        ...

    def grab(self) -> Grab: ...

    def release(self, image: Any) -> None:
        """Give a grab's image back to the pool (any thread)."""
        ...

    def rearm(self) -> None:
        """Clear accumulated damage so the next change sends a new notice."""
        ...

    def close(self) -> None: ...


@dataclass
class CaptureBackend:
    """The three sources of one display, opened together and closed together."""

    name: str  # "x11", "memory", ...
    display: str
    input: InputSource
    windows: WindowModel
    screen: ScreenGrabber

    def close(self) -> None:
        """Close the window model and the grabber (the input source is stopped by the recorder)."""
        for closer in (self.windows.close, self.screen.close):
            try:
                closer()
            except Exception:  # closing a broken connection
                log.debug("close failed", exc_info=True)


BackendFactory = Callable[[], CaptureBackend]
