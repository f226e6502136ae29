"""The capture boundary: what a platform backend delivers and how it is driven (device zone).

A backend (X11 today; macOS and Windows can follow) provides three sources — the ordered input
stream, the window model and the screen grabber — and calls the sinks it is given. Sinks are
called on the backend's own threads and must never block: they append to a queue and return.

The input stream carries, in the server's order, raw input records plus two notices that later
stages need to be exact about time: ``DamageNotice`` (the screen started changing) and
``InputFocusNotice`` (keyboard focus moved). Ordering them with the input in one stream is what
lets the frame scheduler say, for every click, which frame shows the screen just before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from jobshadow.records import InputRecord, Monitor, Rect, WindowInfo


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


class InputSource(Protocol):
    """The ordered input stream. ``start`` spawns the reading thread; the sink runs on it."""

    def start(self, sink: StreamSink) -> None: ...

    def stop(self, timeout: float) -> None: ...


class WindowModel(Protocol):
    """Top-level windows and focus, kept current by window-manager events.

    Methods are thread-safe and cheap (they read a cache); ``window`` may do one round trip the
    first time it sees an id.
    """

    def start(self, on_focus: Callable[[float, WindowInfo | None], None]) -> None: ...

    def stop(self, timeout: float) -> None: ...

    def window(self, window_id: int) -> WindowInfo | None: ...

    def stacking(self) -> list[WindowInfo]: ...

    def active(self) -> WindowInfo | None: ...


@dataclass(frozen=True)
class Grab:
    """One screen image of the full root window and when it was taken.

    ``image`` is a BGRA ``av.VideoFrame`` whose single plane holds ``width * 4``-byte rows: the
    grab lands in the very buffer the encoder reads, so pixels are copied once (from the X
    server's shared memory) and no array library is loaded on the laptop.
    """

    t: float
    image: Any
    width: int
    height: int
    monitors: tuple[Monitor, ...]


class ScreenGrabber(Protocol):
    """Grabs the screen; ``rearm`` clears the change tracking so the next change is notified."""

    def grab(self) -> Grab: ...

    def rearm(self) -> None: ...

    def close(self) -> None: ...
