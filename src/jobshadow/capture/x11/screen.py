"""Screen grabs through MIT-SHM (mss) and change tracking through DAMAGE (device zone).

A ``NonEmpty`` damage object on the root window makes the server send one ``DamageNotify`` when
the screen starts changing; the recorder reads that notice from the ordered RECORD stream (so it
is ordered with input), and ``rearm`` subtracts the damage right before each grab so the next
change is reported again. Nothing here polls: an idle screen costs nothing.
"""

from __future__ import annotations

import contextlib
import time

import mss
import numpy as np
from Xlib.ext import damage as xdamage

from jobshadow.capture.backend import Grab
from jobshadow.capture.x11.display import connect
from jobshadow.errors import CaptureError
from jobshadow.records import Monitor, Rect


class X11Screen:
    def __init__(self, display_name: str) -> None:
        self._d = connect(display_name)
        self._d.damage_query_version()
        root = self._d.screen().root
        self._damage = root.damage_create(xdamage.DamageReportNonEmpty)
        self._d.flush()
        self.damage_event_code = int(self._d.query_extension("DAMAGE").first_event)
        try:
            self._mss = mss.MSS(display=display_name)
        except Exception as exc:  # mss raises its own hierarchy plus OSError for missing libxcb
            raise CaptureError(f"cannot open the screen for grabbing: {type(exc).__name__}: {exc}") from None
        geo = root.get_geometry()
        self.width = int(geo.width)
        self.height = int(geo.height)
        self.monitors = self._read_monitors()
        self._region = {"left": 0, "top": 0, "width": self.width, "height": self.height}

    def _read_monitors(self) -> tuple[Monitor, ...]:
        """Monitors from RandR 1.5 (names and primary), falling back to mss's list."""
        out: list[Monitor] = []
        try:
            reply = self._d.screen().root.xrandr_get_monitors()
            for m in reply.monitors:
                name = self._d.get_atom_name(m.name) if m.name else f"monitor-{len(out)}"
                out.append(Monitor(name, Rect(m.x, m.y, m.width_in_pixels, m.height_in_pixels), bool(m.primary)))
        except Exception:
            out = []
        if not out:
            for i, m in enumerate(self._mss.monitors[1:]):
                out.append(Monitor(f"monitor-{i}", Rect(m["left"], m["top"], m["width"], m["height"]), i == 0))
        return tuple(out)

    def rearm(self) -> None:
        """Clear accumulated damage so the next change sends a new notice; drop our own copies."""
        self._d.damage_subtract(self._damage)
        self._d.flush()
        while self._d.pending_events():
            self._d.next_event()

    def grab(self) -> Grab:
        t = time.monotonic()
        shot = self._mss.grab(self._region)
        image = np.frombuffer(shot.raw, dtype=np.uint8).reshape(shot.height, shot.width, 4)
        return Grab(t=t, image=image, monitors=self.monitors)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._mss.close()
        with contextlib.suppress(Exception):
            self._d.damage_destroy(self._damage)
            self._d.close()
