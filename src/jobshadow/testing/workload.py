"""Scripted input through XTEST with exact counts: the office workload for demo and bench.

``XTestDriver`` sends key, motion, button and wheel events as a person's devices would (the X
server cannot tell them apart), counting every event it generates per kind so a benchmark can
compare generated with captured. It is fast enough for multi-thousand-event-per-second bursts.
"""

from __future__ import annotations

import time
from collections import Counter

from Xlib import XK, X
from Xlib import display as xdisplay
from Xlib.ext import xtest

_KEYSYM_NAMES = {
    " ": "space", "\n": "Return", "\t": "Tab", ".": "period", ",": "comma", "-": "minus", ":": "colon",
    ";": "semicolon", "!": "exclam", "?": "question", "'": "apostrophe", '"': "quotedbl", "(": "parenleft",
    ")": "parenright", "/": "slash", "@": "at", "#": "numbersign", "$": "dollar", "%": "percent",
    "&": "ampersand", "*": "asterisk", "+": "plus", "=": "equal", "_": "underscore", "<": "less",
    ">": "greater", "[": "bracketleft", "]": "bracketright", "{": "braceleft", "}": "braceright",
    "|": "bar", "\\": "backslash", "~": "asciitilde", "`": "grave", "^": "asciicircum",
}


class XTestDriver:
    def __init__(self, display_name: str) -> None:
        self.d = xdisplay.Display(display_name)
        self.counts: Counter[str] = Counter()
        self.clicks: list[float] = []
        self._pos: tuple[int, int] | None = None
        self._shift = self.d.keysym_to_keycode(XK.XK_Shift_L)
        geo = self.d.screen().root.get_geometry()
        self.width, self.height = int(geo.width), int(geo.height)

    def close(self) -> None:
        self.d.close()

    def _keycode(self, ch: str) -> tuple[int, bool]:
        """Keycode for a character on the current layout, and whether Shift is needed."""
        name = _KEYSYM_NAMES.get(ch, ch)
        ks = XK.string_to_keysym(name)
        code = self.d.keysym_to_keycode(ks)
        if not code:
            raise ValueError(f"character {ch!r} is not on the keyboard layout")
        shifted = self.d.keycode_to_keysym(code, 0) != ks
        return code, shifted

    def key(self, code: int, *, sync: bool = True) -> None:
        xtest.fake_input(self.d, X.KeyPress, code)
        xtest.fake_input(self.d, X.KeyRelease, code)
        self.counts["key_press"] += 1
        self.counts["key_release"] += 1
        if sync:
            self.d.sync()

    def type(self, text: str, cps: float = 10.0) -> None:
        """Type ``text`` at ``cps`` characters per second (0: as fast as possible)."""
        for ch in text:
            code, shifted = self._keycode(ch)
            if shifted:
                xtest.fake_input(self.d, X.KeyPress, self._shift)
                self.counts["key_press"] += 1
            self.key(code, sync=False)
            if shifted:
                xtest.fake_input(self.d, X.KeyRelease, self._shift)
                self.counts["key_release"] += 1
            self.d.sync()
            if cps:
                time.sleep(1.0 / cps)

    def move(self, x: int, y: int, *, sync: bool = True) -> None:
        x = max(0, min(self.width - 1, x))
        y = max(0, min(self.height - 1, y))
        if (x, y) == self._pos:
            return
        xtest.fake_input(self.d, X.MotionNotify, x=x, y=y)
        self._pos = (x, y)
        self.counts["mouse_move"] += 1
        if sync:
            self.d.sync()

    def travel(self, x: int, y: int, steps: int = 25, seconds: float = 0.4) -> None:
        """Move the pointer along a line, like a hand would."""
        x0, y0 = self._pos or (self.width // 2, self.height // 2)
        for i in range(1, steps + 1):
            self.move(round(x0 + (x - x0) * i / steps), round(y0 + (y - y0) * i / steps))
            time.sleep(seconds / steps)

    def click(self, button: int = 1) -> None:
        self.clicks.append(time.monotonic())
        xtest.fake_input(self.d, X.ButtonPress, button)
        self.d.sync()
        time.sleep(0.03)
        xtest.fake_input(self.d, X.ButtonRelease, button)
        self.d.sync()
        self.counts["mouse_press"] += 1
        self.counts["mouse_release"] += 1

    def scroll(self, notches: int) -> None:
        """Positive: down; negative: up. One wheel notch is one press and release of button 4/5."""
        button = 5 if notches > 0 else 4
        for _ in range(abs(notches)):
            xtest.fake_input(self.d, X.ButtonPress, button)
            xtest.fake_input(self.d, X.ButtonRelease, button)
            self.d.sync()
            self.counts["scroll"] += 1
            time.sleep(0.02)

    def burst(self, events: int, seconds: float, box: tuple[int, int, int, int]) -> float:
        """About ``events`` input events in ``seconds`` (pointer motion plus keys); returns the rate."""
        x0, y0, x1, y1 = box
        code, _ = self._keycode("x")
        start = time.monotonic()
        sent = 0
        batch = 50
        i = 0
        while sent < events:
            for _ in range(batch):
                if i % 4 == 3:
                    xtest.fake_input(self.d, X.KeyPress, code)
                    xtest.fake_input(self.d, X.KeyRelease, code)
                    self.counts["key_press"] += 1
                    self.counts["key_release"] += 1
                    sent += 2
                else:
                    x = x0 + (i * 7) % (x1 - x0)
                    y = y0 + (i * 3) % (y1 - y0)
                    if (x, y) != self._pos:
                        xtest.fake_input(self.d, X.MotionNotify, x=x, y=y)
                        self._pos = (x, y)
                        self.counts["mouse_move"] += 1
                        sent += 1
                i += 1
            self.d.sync()
            target = start + seconds * sent / events
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        elapsed = time.monotonic() - start
        return sent / elapsed if elapsed > 0 else float("inf")
