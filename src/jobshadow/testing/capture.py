"""An in-memory desktop: the capture backend the recorder runs against without an X server.

Like OpenTelemetry's in-memory exporter, it implements the real Protocols
(``jobshadow.capture.backend``) so everything else — the privacy filters, the typed-text guard,
the echo shield, the encoder, the sealed spool, the control socket — is the production code:

* ``ScriptedInput`` — a key/mouse stream a test writes (``type_text``, ``click``, ``scroll``,
  ``damage``, …): each call stamps records with the clock and hands them to the recorder's sink
  at once, on the calling thread (which plays the reading thread);
* ``WindowWorld`` — a window manager's view: windows opened, focused, moved, retitled and closed
  by the test, with the snapshot/trail semantics of the X11 model;
* ``PaintedScreen`` — a grabber whose images show each visible window as a flat colour plus
  whatever the test painted into it (``paint``), so masks and the echo shield have pixels to act on.

``InMemoryDesktop`` bundles the three; ``backend()`` is what ``Recorder(backend=...)`` takes.
Every call is recorded in ``log`` (``"input.stop"``, ``"screen.close"``, …) so a test can check
the order in which the recorder shut its sources down.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from jobshadow.capture.backend import (
    CaptureBackend,
    DamageNotice,
    FocusEvent,
    Grab,
    InputFocusNotice,
    Snapshot,
    StackEntry,
    StreamItem,
    StreamSink,
)
from jobshadow.capture.images import ImagePool
from jobshadow.records import KeyEvent, Monitor, MouseButton, MouseMove, Rect, Scroll, WindowInfo

Clock = Callable[[], float]
# Keys the scripted keyboard knows besides printable characters: name -> (keysym, char).
_NAMED = {"\n": ("Return", 0xFF0D, "\r"), "\t": ("Tab", 0xFF09, "\t"), "\b": ("BackSpace", 0xFF08, None),
          "Escape": ("Escape", 0xFF1B, None)}


class ScriptedInput:
    """The ordered input stream, written by the test (``jobshadow.capture.backend.InputSource``)."""

    def __init__(self, log: list[str], clock: Clock = time.monotonic) -> None:
        self.log = log
        self.clock = clock
        self.failure: BaseException | None = None
        self._sink: StreamSink | None = None
        self._lock = threading.Lock()
        self._codes: dict[str, int] = {}
        self.window_id: int | None = None  # where keys go (the last ``focus``)
        self.delivered = 0

    @property
    def clock_offset_ms(self) -> float:
        return 0.0

    def start(self, sink: StreamSink) -> None:
        self.log.append("input.start")
        self._sink = sink

    def stop(self, timeout: float) -> None:
        self.log.append("input.stop")
        with self._lock:
            self._sink = None

    @property
    def running(self) -> bool:
        return self._sink is not None

    def feed(self, *items: StreamItem) -> None:
        """Hand ``items`` to the recorder, in order (dropped, as X would, once the stream stopped)."""
        with self._lock:
            sink = self._sink
            if sink is None:
                return
            for item in items:
                sink(item)
                self.delivered += 1

    # --- scripted input -------------------------------------------------------------------------
    def focus(self, window_id: int | None) -> None:
        """Keyboard focus moves (what the window manager's SetInputFocus looks like in the stream)."""
        self.window_id = window_id
        self.feed(InputFocusNotice(self.clock(), window_id))

    def key(self, name: str, keysym: int, char: str | None, modifiers: tuple[str, ...] = ()) -> list[KeyEvent]:
        code = self._codes.setdefault(name, 10 + len(self._codes))
        press = KeyEvent(self.clock(), "key_press", code, keysym, name, char, modifiers, self.window_id)
        self.feed(press)
        release = KeyEvent(self.clock(), "key_release", code, keysym, name, char, modifiers, self.window_id)
        self.feed(release)
        return [press, release]

    def type_text(self, text: str, *, echo: Rect | None = None, pause: float = 0.0) -> None:
        """Type ``text`` into the focused window.

        ``echo``: where the window draws what is typed (screen coordinates of its first text
        cell); each printed character then damages the next 6x12 cell, as a terminal's echo
        does. Without it the keys change nothing on screen — what a no-echo prompt looks like.
        """
        col = row = 0
        for ch in text:
            if ch in _NAMED:
                self.key(*_NAMED[ch])
            elif ch.isupper():
                self.key("Shift_L", 0xFFE1, None)
                self.key(ch, ord(ch), ch, ("shift",))
            else:
                self.key(ch if ch != " " else "space", ord(ch), ch)
            if echo is not None:
                if ch == "\n":
                    col, row = 0, row + 1
                elif ch == "\b":
                    col = max(0, col - 1)
                else:
                    self.damage(Rect(echo.x + 6 * col, echo.y + 12 * row, 6, 12))
                    col += 1
            if pause:
                time.sleep(pause)  # the person's own typing speed, where a test needs time between keys

    def move(self, x: int, y: int) -> None:
        self.feed(MouseMove(self.clock(), x, y))

    def click(self, x: int, y: int, button: int = 1) -> None:
        self.feed(MouseButton(self.clock(), "mouse_press", button, x, y))
        self.feed(MouseButton(self.clock(), "mouse_release", button, x, y))

    def scroll(self, x: int, y: int, dy: int = 1) -> None:
        self.feed(Scroll(self.clock(), x, y, 0, dy))

    def damage(self, box: Rect | None) -> None:
        """The screen changed (inside ``box``); the recorder plans a frame and the echo shield learns."""
        self.feed(DamageNotice(self.clock(), box))


class WindowWorld:
    """Top-level windows as a window manager shows them (``jobshadow.capture.backend.WindowModel``)."""

    def __init__(self, width: int, height: int, log: list[str], clock: Clock = time.monotonic) -> None:
        self.root = Rect(0, 0, width, height)
        self.log = log
        self.clock = clock
        self._lock = threading.RLock()
        self._windows: dict[int, WindowInfo] = {}
        self._order: list[int] = []  # bottom to top
        self._active: int | None = None
        self._focus: list[FocusEvent] = []
        self._trail: list[StackEntry] = []
        self._next = 0x1200001
        self._r, self._w = os.pipe()
        os.set_blocking(self._w, False)
        os.set_blocking(self._r, False)
        self._snapshot = self._make()

    # --- the test's side ------------------------------------------------------------------------
    def open(self, wm_class: str, title: str, rect: Rect, *, focus: bool = True, process: str | None = None,
             role: str = "") -> WindowInfo:
        with self._lock:
            wid = self._next
            self._next += 0x100000
            info = WindowInfo(wid, wm_class.lower(), wm_class, title, 4000 + len(self._windows),
                              process or wm_class.lower(), rect, role=role)
            self._windows[wid] = info
            self._order.append(wid)
            self._changed(wid)
            if focus:
                self.activate(wid)
            return info

    def activate(self, window_id: int | None) -> None:
        """``window_id`` becomes the active window (None: no window has focus)."""
        with self._lock:
            if window_id is not None and window_id in self._order:
                self._order.remove(window_id)
                self._order.append(window_id)
                self._changed(window_id)
            self._active = window_id
            self._focus.append((self.clock(), self._windows.get(window_id) if window_id else None))
            self._wake()

    def retitle(self, window_id: int, title: str) -> None:
        with self._lock:
            from msgspec.structs import replace

            self._changed(window_id)
            self._windows[window_id] = replace(self._windows[window_id], title=title)
            if window_id == self._active:
                self._focus.append((self.clock(), self._windows[window_id]))
            self._wake()

    def move(self, window_id: int, rect: Rect) -> None:
        with self._lock:
            from msgspec.structs import replace

            self._changed(window_id)
            self._windows[window_id] = replace(self._windows[window_id], geometry=rect)
            self._changed(window_id)
            self._wake()

    def close_window(self, window_id: int) -> None:
        with self._lock:
            self._changed(window_id)
            self._order.remove(window_id)
            self._windows.pop(window_id)
            if self._active == window_id:
                self.activate(None)
            self._wake()

    def windows(self) -> list[WindowInfo]:
        """Visible windows, bottom to top."""
        with self._lock:
            return [self._windows[w] for w in self._order]

    # --- WindowModel ------------------------------------------------------------------------------
    def fileno(self) -> int:
        return self._r

    def pump(self) -> list[FocusEvent]:
        with self._lock:
            with contextlib.suppress(BlockingIOError, OSError):
                os.read(self._r, 4096)
            out, self._focus = self._focus, []
            return out

    def sync(self) -> Snapshot:
        with self._lock:
            self._snapshot = self._make()
            return self._snapshot

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot

    def take_trail(self) -> list[StackEntry]:
        with self._lock:
            out, self._trail = self._trail, []
            return out

    def window(self, window_id: int) -> WindowInfo | None:
        with self._lock:
            return self._windows.get(window_id)

    def active(self) -> WindowInfo | None:
        with self._lock:
            return self._windows.get(self._active) if self._active is not None else None

    def close(self) -> None:
        self.log.append("windows.close")
        for fd in (self._r, self._w):
            with contextlib.suppress(OSError):
                os.close(fd)

    # --- internals --------------------------------------------------------------------------------
    def _entry(self, wid: int) -> StackEntry:
        info = self._windows[wid]
        return StackEntry(wid, info.outer, info, False)

    def _changed(self, wid: int) -> None:
        if wid in self._windows and wid in self._order:
            self._trail.append(self._entry(wid))

    def _make(self) -> Snapshot:
        return Snapshot(tuple(self._entry(w) for w in self._order), self.clock(), self.root)

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._w, b"\0")


def window_colour(window_id: int) -> tuple[int, int, int]:
    """The flat BGR colour ``PaintedScreen`` gives a window (never the mask's fill grey)."""
    return (40 + window_id % 151, 60 + (window_id >> 8) % 131, 90 + (window_id >> 16) % 113)


class PaintedScreen:
    """Grabs of the world's windows as flat colours (``jobshadow.capture.backend.ScreenGrabber``)."""

    def __init__(self, world: WindowWorld, log: list[str], clock: Clock = time.monotonic) -> None:
        self.world = world
        self.log = log
        self.clock = clock
        self.width = world.root.width
        self.height = world.root.height
        self.monitors: tuple[Monitor, ...] = (Monitor("memory-0", 0, 0, self.width, self.height, True),)
        self.pool = ImagePool(self.height, self.width)
        self.grabs = 0
        self.rearmed = 0
        self._paint: dict[int, list[tuple[Rect, tuple[int, int, int]]]] = {}

    @property
    def images(self) -> int:
        return self.pool.allocated

    def paint(self, window_id: int, box: Rect, colour: tuple[int, int, int] = (0, 0, 0)) -> None:
        """Draw a box (window coordinates) in a window: what typed text looks like to the echo shield."""
        self._paint.setdefault(window_id, []).append((box, colour))

    def grab(self) -> Grab:
        t = self.clock()
        image = self.pool.take()
        plane = memoryview(image.planes[0])
        plane[:] = b"\xff" * plane.nbytes  # the desktop: white
        for info in self.world.windows():
            self._fill(plane, info.geometry, window_colour(info.window_id))
            for box, colour in self._paint.get(info.window_id, ()):
                g = info.geometry
                self._fill(plane, Rect(g.x + box.x, g.y + box.y, box.width, box.height), colour)
        self.grabs += 1
        return Grab(t, image, self.width, self.height, self.monitors)

    def _fill(self, plane: memoryview, r: Rect, bgr: tuple[int, int, int]) -> None:
        x0, y0 = max(0, r.x), max(0, r.y)
        x1, y1 = min(self.width, r.x + r.width), min(self.height, r.y + r.height)
        if x1 <= x0 or y1 <= y0:
            return
        row = bytes((*bgr, 255)) * (x1 - x0)
        for y in range(y0, y1):
            o = (y * self.width + x0) * 4
            plane[o:o + len(row)] = row

    def release(self, image: Any) -> None:
        self.pool.give(image)

    def rearm(self) -> None:
        self.rearmed += 1

    def close(self) -> None:
        self.log.append("screen.close")


class InMemoryDesktop:
    """A scripted input stream, a window world and a painted screen that share one clock and log."""

    def __init__(self, width: int = 320, height: int = 240, clock: Clock = time.monotonic) -> None:
        self.log: list[str] = []
        self.input = ScriptedInput(self.log, clock)
        self.world = WindowWorld(width, height, self.log, clock)
        self.screen = PaintedScreen(self.world, self.log, clock)

    def backend(self) -> CaptureBackend:
        """The backend to hand the recorder (``Recorder(settings, backend=desktop.backend)``)."""
        self.log.append("backend.open")
        return CaptureBackend("memory", "memory", self.input, self.world, self.screen)

    def open(self, wm_class: str, title: str, rect: Rect | None = None, **kw: Any) -> WindowInfo:
        """Open a window and give it keyboard focus, as a window manager would."""
        info = self.world.open(wm_class, title, rect or Rect(10, 10, self.world.root.width - 20,
                                                              self.world.root.height - 20), **kw)
        if kw.get("focus", True):
            self.input.focus(info.window_id)
        return info
