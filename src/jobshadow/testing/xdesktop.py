"""A real X11 desktop: Xvfb on a free display, openbox, X applications, xdotool.

Each ``Desktop`` is its own X server, so tests never share windows or input. Xvfb picks the
display number itself (``-displayfd``), so parallel runs cannot collide.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

from jobshadow.testing import poll


class Desktop:
    def __init__(self, width: int = 1920, height: int = 1080, wm: bool = True) -> None:
        self.width = width
        self.height = height
        self._procs: list[subprocess.Popen[bytes]] = []
        r, w = os.pipe()
        self.xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(w), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp",
             "-noreset", "+extension", "RECORD"],
            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(w)
        with os.fdopen(r) as fh:
            number = fh.readline().strip()
        if not number:
            self.xvfb.kill()
            raise RuntimeError("Xvfb did not start")
        self.display = f":{number}"
        self.env = {**os.environ, "DISPLAY": self.display}
        self.env.pop("WAYLAND_DISPLAY", None)
        self.env.pop("XDG_SESSION_TYPE", None)
        if wm:
            self.spawn(["openbox", "--sm-disable"], setsid=True)
            self.wait_for(lambda: self._wm_ready(), 10, "openbox to manage the screen")

    def _wm_ready(self) -> bool:
        out = subprocess.run(["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"], env=self.env,
                             capture_output=True, text=True)
        return "window id" in out.stdout

    def spawn(self, argv: list[str], *, setsid: bool = False, **kw: object) -> subprocess.Popen[bytes]:
        p: subprocess.Popen[bytes] = subprocess.Popen(  # type: ignore[call-overload]
            argv, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=setsid, **kw)
        self._procs.append(p)
        return p

    def app(self, argv: list[str], wm_class: str, timeout: float = 10.0) -> str:
        """Start an X application and return its window id once it is mapped."""
        self.spawn(argv)
        return self.wait_window(wm_class, timeout)

    def wait_window(self, wm_class: str, timeout: float = 10.0) -> str:
        found: list[str] = []

        def check() -> bool:
            out = subprocess.run(["xdotool", "search", "--onlyvisible", "--classname", wm_class],
                                 env=self.env, capture_output=True, text=True)
            found[:] = out.stdout.split()
            return bool(found)

        self.wait_for(check, timeout, f"a window of class {wm_class}")
        return found[-1]

    def xdotool(self, *args: str) -> str:
        out = subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"xdotool {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout

    def activate(self, window: str) -> None:
        self.xdotool("windowactivate", "--sync", window)
        self.wait_for(lambda: self.active() == int(window), 5, f"window {window} to be active")

    def active(self) -> int:
        out = subprocess.run(["xdotool", "getactivewindow"], env=self.env, capture_output=True, text=True)
        return int(out.stdout.strip() or 0)

    def screenshot(self) -> Any:
        """The whole screen now, as a PIL RGB image (for tests that read it back)."""
        import mss
        from PIL import Image

        with mss.MSS(display=self.display) as grabber:
            shot = grabber.grab(grabber.monitors[0])
            return Image.frombytes("RGB", shot.size, shot.rgb)

    @staticmethod
    def wait_for(cond: Callable[[], object], timeout: float, what: str) -> None:
        poll.wait_for(cond, timeout, what, interval=0.05)

    def close(self) -> None:
        for p in reversed(self._procs):
            with contextlib.suppress(ProcessLookupError):
                if p.poll() is None:
                    try:
                        os.killpg(p.pid, signal.SIGTERM)
                    except (ProcessLookupError, PermissionError):
                        p.terminate()
        for p in self._procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.xvfb.terminate()
        try:
            self.xvfb.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.xvfb.kill()
            self.xvfb.wait()


def have_x_tools() -> bool:
    return all(shutil.which(t) for t in ("Xvfb", "xdotool", "openbox", "xterm", "xprop"))


@contextlib.contextmanager
def desktop(**kw: object) -> Iterator[Desktop]:
    d = Desktop(**kw)  # type: ignore[arg-type]
    try:
        yield d
    finally:
        d.close()


def xterm(d: Desktop, name: str, geometry: str = "160x50+0+0", title: str | None = None,
          command: tuple[str, ...] = ("cat",)) -> str:
    """An xterm running ``command``: `cat` by default (echoes what is typed, no shell prompt to
    interfere); ``SHELL_COMMAND`` gives a bash that keeps no history file."""
    argv = ["xterm", "-name", name, "-geometry", geometry]
    if title:
        argv += ["-title", title]
    argv += ["-e", *command]
    return d.app(argv, name)


# An interactive bash with a plain prompt that writes no history (tests type secrets into it).
SHELL_COMMAND = ("env", "HISTFILE=/dev/null", "PS1=$ ", "bash", "--norc", "--noprofile", "-i")



# Debian's Chromium on a machine with no network: no background traffic, no first-run UI.
CHROMIUM_FLAGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--no-default-browser-check", "--disable-features=Translate",
                  "--password-store=basic", "--disable-quic")


def chromium(d: Desktop, url: str, profile: str, *, geometry: tuple[int, int, int, int] = (0, 0, 1000, 700),
             extra: tuple[str, ...] = ()) -> str:
    """A real Chromium window on the desktop showing ``url``, with its own profile directory."""
    x, y, w, h = geometry
    argv = ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-position={x},{y}",
            f"--window-size={w},{h}", *extra, url]
    return d.app(argv, "chromium", timeout=60.0)
