"""Open X11 connections and refuse displays jobshadow cannot record faithfully (device zone).

``open_x11`` opens the whole capture backend of a display (``jobshadow.capture.backend``): the
RECORD input stream, the window model and the MIT-SHM grabber. Every failure here is a
``DisplayError`` whose one-line message says what to do.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from Xlib import display as xdisplay
from Xlib import error as xerror

from jobshadow.errors import DisplayError

if TYPE_CHECKING:
    from jobshadow.capture.backend import CaptureBackend

# RECORD: the input stream; DAMAGE (+XFIXES): change-driven frames; MIT-SHM: cheap grabs.
REQUIRED_EXTENSIONS = ("RECORD", "DAMAGE", "XFIXES", "MIT-SHM")

_HINTS = {
    "RECORD": "Xorg: add Load \"record\" to the Module section; Xvfb: start it with +extension RECORD",
    "DAMAGE": "enable the DAMAGE extension in the X server",
    "XFIXES": "enable the XFIXES extension in the X server",
    "MIT-SHM": "run the recorder on the same machine as the X server (MIT-SHM needs local shared memory)",
}


def resolve_display(explicit: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The display name to record, or a DisplayError saying why there is none."""
    env = os.environ if environ is None else environ
    if explicit:
        return explicit
    if env.get("XDG_SESSION_TYPE", "").lower() == "wayland" or env.get("WAYLAND_DISPLAY"):
        raise DisplayError(
            "this is a Wayland session; jobshadow records X11 sessions only "
            "(log in with an X11/Xorg session, or pass --display for an X server such as Xvfb)"
        )
    name = env.get("DISPLAY", "")
    if not name:
        raise DisplayError(
            "no X display: DISPLAY is not set; run inside an X11 session or pass --display :N "
            "(for a virtual screen: Xvfb :99 & then --display :99)"
        )
    return name


def connect(name: str) -> xdisplay.Display:
    try:
        return xdisplay.Display(name)
    # python-xlib falls back to TCP for unreachable local displays and can raise almost anything
    # from socket code (OverflowError for a display number past the port range, ValueError, …).
    except (xerror.DisplayError, xerror.DisplayConnectionError, OSError, OverflowError, ValueError) as exc:
        raise DisplayError(
            f"cannot connect to X display {name}: {_short(exc)}; check that the X server is running "
            "and that DISPLAY/XAUTHORITY are right"
        ) from None


def check_server(d: xdisplay.Display, name: str) -> None:
    """Refuse XWayland (input of native Wayland apps is invisible to it) and missing extensions."""
    extensions = set(d.list_extensions())
    if "XWAYLAND" in extensions:
        raise DisplayError(
            f"{name} is XWayland inside a Wayland session; jobshadow records X11 sessions only "
            "(log in with an X11/Xorg session)"
        )
    for ext in REQUIRED_EXTENSIONS:
        if ext not in extensions:
            raise DisplayError(f"the X server at {name} lacks the {ext} extension; {_HINTS[ext]}")


def open_x11(name: str) -> CaptureBackend:
    """The capture backend of X display ``name`` (checked first: no XWayland, every extension)."""
    from jobshadow.capture.backend import CaptureBackend
    from jobshadow.capture.x11.record import XRecordInput
    from jobshadow.capture.x11.screen import X11Screen
    from jobshadow.capture.x11.windows import X11Windows

    probe = connect(name)
    try:
        check_server(probe, name)
    finally:
        probe.close()
    screen = X11Screen(name)
    windows = X11Windows(name)
    return CaptureBackend("x11", name, XRecordInput(name, screen.damage_event_code), windows, screen)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
