"""Render benchmark screens for real: xterm and vim under Xvfb, pages in Debian's Chromium.

Terminals run on an Xvfb desktop with openbox (window decorations included) and are grabbed with
mss once two grabs in a row are identical. Pages are written to a temporary folder and shot by
headless Chromium at the screen's device scale factor, with the window sized so the screenshot is
1920x1080.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
import time
from pathlib import Path

import mss
import numpy as np
import screen_heldout2
import screen_templates
from PIL import Image
from screen_corpus import Screen

from jobshadow.testing.xdesktop import Desktop

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]


def grab(display: str) -> np.ndarray:
    os.environ["DISPLAY"] = display
    with mss.MSS() as s:
        shot = s.grab(s.monitors[1])
        return np.asarray(Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX"))


def render_terminal(desk: Desktop, screen: Screen, work: Path) -> np.ndarray:
    text = work / f"{screen.name}.txt"
    text.write_text(screen.content + "\n")
    st = screen.style
    font = ["-fn", st["font"]] if st["font"] == "fixed" else ["-fa", st["font"], "-fs", st["size"]]
    if screen.medium == "editor":
        inner = f"vim -u NONE -N -c 'syntax on' -c 'set number' {shlex.quote(str(text))}"
    else:
        inner = f"cat {shlex.quote(str(text))}; exec sleep 3600"
    name = f"bench{abs(hash(screen.name)) % 10**8}"
    argv = ["xterm", "-name", name, "-geometry", "150x48+0+0", *font, "-bg", st["bg"], "-fg", st["fg"],
            "-e", "sh", "-c", inner]
    proc = desk.spawn(argv)
    try:
        window = desk.wait_window(name, 15)
        desk.xdotool("windowsize", "--sync", window, str(desk.width - 40), str(desk.height - 60))
        return _settled(desk.display)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _settled(display: str, timeout: float = 15.0) -> np.ndarray:
    deadline = time.monotonic() + timeout
    last = grab(display)
    while time.monotonic() < deadline:
        time.sleep(0.15)
        cur = grab(display)
        if np.array_equal(cur, last) and cur.std() > 5:
            return cur
        last = cur
    raise TimeoutError("the screen did not settle")


def render_html(screen: Screen) -> np.ndarray:
    st = screen.style
    theme = {**screen_templates.THEMES, **screen_heldout2.THEMES}[st["theme"]]
    vars_ = ";".join(f"--{k}:{v}" for k, v in theme.items())
    doc = screen.content.replace(
        "<style>", f"<style>:root{{{vars_};--font:'{st['font']}';--mono:'{st['mono']}';--size:{st['size']}px}}", 1)
    scale = float(st["scale"])
    with tempfile.TemporaryDirectory(prefix="jobshadow-screen-") as d:
        page = Path(d) / "page.html"
        shot = Path(d) / "shot.png"
        page.write_text(doc)
        argv = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={d}/profile", f"--force-device-scale-factor={scale}",
                f"--window-size={round(1920 / scale)},{round(1080 / scale)}", f"--screenshot={shot}",
                page.as_uri()]
        subprocess.run(argv, capture_output=True, timeout=60, check=False)
        if not shot.exists():
            raise RuntimeError("chromium wrote no screenshot")
        return np.asarray(Image.open(shot).convert("RGB"))
