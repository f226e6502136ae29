"""Screen grabs through MIT-SHM (mss) and change tracking through DAMAGE (device zone).

A ``BoundingBox`` damage object on the root window makes the server send a ``DamageNotify`` when
the screen starts changing and whenever the changed area grows, each with the bounding box of
what changed since the last grab; the recorder reads those notices from the ordered RECORD
stream (so they are ordered with input), and ``rearm`` subtracts the damage right before each
grab so the next change is reported again. Nothing here polls: an idle screen costs nothing.

Grabs land in a small pool of preallocated images: the server writes the screen into mss's
shared-memory segment and one copy moves it into a pooled buffer. Allocating a fresh 8 MB buffer
per grab (what mss's public API does) costs page faults and leaves freed buffers stranded in
malloc arenas — tens of MB of extra memory and several percent of a core at typing speed.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import mss
from Xlib.ext import damage as xdamage

from jobshadow.capture.backend import Grab
from jobshadow.capture.images import ImagePool
from jobshadow.capture.x11.display import connect
from jobshadow.errors import CaptureError
from jobshadow.records import Monitor

log = logging.getLogger(__name__)


class X11Screen:
    def __init__(self, display_name: str) -> None:
        self._d = connect(display_name)
        self._d.damage_query_version()
        root = self._d.screen().root
        # BoundingBox: a notice whenever the changed area grows (not only the first change), each
        # carrying the area changed since the last re-arm; the echo shield needs to know where.
        self._damage = root.damage_create(xdamage.DamageReportBoundingBox)
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
        self.pool = ImagePool(self.height, self.width)
        self._shm = self._shm_path()

    def _read_monitors(self) -> tuple[Monitor, ...]:
        """Monitors from RandR 1.5 (names and primary), falling back to mss's list."""
        out: list[Monitor] = []
        try:
            reply = self._d.screen().root.xrandr_get_monitors()
            for m in reply.monitors:
                name = self._d.get_atom_name(m.name) if m.name else f"monitor-{len(out)}"
                out.append(Monitor(name, m.x, m.y, m.width_in_pixels, m.height_in_pixels, bool(m.primary)))
        except Exception:
            out = []
        if not out:
            for i, m in enumerate(self._mss.monitors[1:]):
                out.append(Monitor(f"monitor-{i}", m["left"], m["top"], m["width"], m["height"], i == 0))
        return tuple(out)

    @property
    def images(self) -> int:
        return self.pool.allocated

    def release(self, image: Any) -> None:
        self.pool.give(image)

    def rearm(self) -> None:
        """Clear accumulated damage so the next change sends a new notice; drop our own copies."""
        self._d.damage_subtract(self._damage)
        self._d.flush()
        while self._d.pending_events():
            self._d.next_event()

    def _shm_path(self) -> Any:
        """mss's XShm implementation when usable for copy-into-pool grabs, else None."""
        impl = getattr(self._mss, "_impl", None)
        needed = ("conn", "drawable", "_shmseg", "_buf", "_bufsize")
        if impl is None or not all(getattr(impl, n, None) is not None for n in needed):
            log.info("MIT-SHM fast path unavailable; grabbing through mss's public API")
            return None
        if impl._bufsize < self.width * self.height * 4:
            return None
        return impl

    def grab(self) -> Grab:
        """Grab the whole root window into a pooled image (give it back with ``pool.give``)."""
        t = time.monotonic()
        image = self.pool.take()
        impl = self._shm
        if impl is not None:
            from mss.linux import xcbgen
            from mss.linux.base import ALL_PLANES

            reply = xcbgen.shm_get_image(impl.conn, impl.drawable, 0, 0, self.width, self.height,
                                      ALL_PLANES, xcbgen.ImageFormat.ZPixmap, impl._shmseg, 0)
            if reply.depth != impl.drawable_depth:
                raise CaptureError("the X server returned an image of an unexpected depth")
            dst = memoryview(image.planes[0])
            with memoryview(impl._buf) as mv:
                dst[:] = mv[: dst.nbytes]
        else:
            memoryview(image.planes[0])[:] = self._mss.grab(self._region).raw
        return Grab(t=t, image=image, width=self.width, height=self.height, monitors=self.monitors)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._mss.close()
        with contextlib.suppress(Exception):
            self._d.damage_destroy(self._damage)
            self._d.close()
