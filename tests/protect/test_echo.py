"""The echo shield on synthetic frames: where typed secrets appeared stays filled, and follows scrolling."""

from __future__ import annotations

import random

from jobshadow.protect.echo import EchoShield, TypedSpan
from jobshadow.protect.masking import FILL_BYTE
from jobshadow.records import Rect, VisibleWindow

W, H = 320, 240
LINE = 12  # pixel rows per text line in the synthetic "terminal"
WINDOW = Rect(20, 10, 260, 200)


class Screen:
    """A BGRA frame whose window shows lines of random 'text' (each line distinct)."""

    def __init__(self, lines: list[int], window: Rect = WINDOW) -> None:
        self.window = window
        self.buf = bytearray(b"\xff" * (W * H * 4))
        for i, seed in enumerate(lines):
            rng = random.Random(seed)
            for r in range(LINE - 2):  # the last two rows of a line are blank spacing
                y = window.y + i * LINE + r
                if y >= window.y + window.height:
                    break
                row = bytes(rng.choice((0, 255)) for _ in range(window.width))
                for x, v in enumerate(row):
                    o = (y * W + window.x + x) * 4
                    self.buf[o:o + 4] = bytes((v, v, v, 255))

    def filled(self, x: int, y: int) -> bool:
        o = (y * W + x) * 4
        return self.buf[o:o + 3] == bytes((FILL_BYTE,) * 3)

    def stacking(self, in_scope: bool = True, window_id: int = 7) -> tuple[VisibleWindow, ...]:
        return (VisibleWindow(window_id if in_scope else 0, "XTerm" if in_scope else "", self.window,
                              in_scope, not in_scope),)


def line_box(line: int, x0: int, x1: int, window: Rect = WINDOW) -> Rect:
    """A damage box (screen coordinates) over columns x0..x1 of a text line."""
    return Rect(window.x + x0, window.y + line * LINE, x1 - x0, LINE)


def typed(shield: EchoShield, line: int, t0: float = 10.0, chars: int = 8, after: float | None = None,
          window: Rect = WINDOW) -> TypedSpan:
    """Keys typed on ``line``: each echo grows the damage box by one 6-px cell."""
    for i in range(chars):
        shield.damage(t0 + 0.05 * i + 0.002, line_box(line, 40, 40 + 6 * (i + 1), window))
    last = t0 + 0.05 * (chars - 1)
    return TypedSpan(7, window, t0, last, after)


def test_echo_is_seen_when_the_change_moves_and_not_when_nothing_or_only_the_caret_changes() -> None:
    shield = EchoShield()
    assert shield.echoed(WINDOW, 1.0, 2.0, None, 3.0) is None  # no change areas reported yet
    typed(shield, 3, t0=10.0)
    assert shield.echoed(WINDOW, 10.0, 10.35, None, 11.0) is True
    # A run with no change at all, checked after the echo would have arrived: not echoed.
    assert shield.echoed(WINDOW, 20.0, 20.4, 20.5, 21.0) is False
    # Too early to tell.
    assert shield.echoed(WINDOW, 20.0, 20.4, None, 20.41) is None
    # A blinking caret: the same small box again and again is no echo.
    for i in range(4):
        shield.damage(30.0 + 0.3 * i, Rect(60, 40, 6, 12))
    assert shield.echoed(WINDOW, 30.0, 31.0, 31.1, 32.0) is False
    # Changes that follow the key ending the run (Return) are that key's, not the run's.
    shield.damage(40.5, Rect(20, 10, 200, 24))
    shield.damage(40.5, Rect(20, 10, 260, 36))
    assert shield.echoed(WINDOW, 40.0, 40.4, 40.5, 41.0) is False
    # Changes in another window are not this window's echo.
    assert shield.echoed(Rect(290, 0, 30, 30), 10.0, 10.35, None, 11.0) is False


def test_a_pending_span_is_filled_from_its_first_key_on_and_nothing_else_is() -> None:
    shield = EchoShield()
    screen = Screen(list(range(10)))
    span = typed(shield, 2, t0=10.0)
    filled = shield.protect(screen.buf, W, H, screen.stacking(), 10.5, [span])
    assert filled > 0
    assert screen.filled(WINDOW.x + 44, WINDOW.y + 2 * LINE + 5)
    assert not screen.filled(WINDOW.x + 44, WINDOW.y + 5 * LINE + 5)
    assert not screen.filled(WINDOW.x + 200, WINDOW.y + 2 * LINE + 5)
    # A frame grabbed before the span began shows nothing of it: no fill.
    before = Screen(list(range(10)))
    assert shield.protect(before.buf, W, H, before.stacking(), 9.0, [span]) == 0


def test_a_taint_follows_the_content_when_the_window_scrolls() -> None:
    shield = EchoShield()
    lines = list(range(100, 116))
    first = Screen(lines)
    shield.taint(typed(shield, 5, t0=10.0, after=10.6))
    assert shield.protect(first.buf, W, H, first.stacking(), 11.0) > 0
    assert first.filled(WINDOW.x + 44, WINDOW.y + 5 * LINE + 4)
    # Three lines of output push everything up by three lines.
    scrolled = Screen([*lines[3:], 900, 901, 902])
    shield.protect(scrolled.buf, W, H, scrolled.stacking(), 12.0)
    assert scrolled.filled(WINDOW.x + 44, WINDOW.y + 2 * LINE + 4)
    assert not scrolled.filled(WINDOW.x + 44, WINDOW.y + 5 * LINE + 4)
    # Scrolled off the top: nothing visible is filled.
    gone = Screen(lines[8:] + list(range(900, 908)))
    shield.protect(gone.buf, W, H, gone.stacking(), 13.0)
    assert not any(gone.filled(WINDOW.x + 44, WINDOW.y + r) for r in range(0, 200, 3))
    # Scrolling back (the terminal's scrollback) brings it into view again, filled.
    back = Screen(lines)
    shield.protect(back.buf, W, H, back.stacking(), 14.0)
    assert back.filled(WINDOW.x + 44, WINDOW.y + 5 * LINE + 4)


def test_a_taint_whose_content_is_replaced_stops_filling_and_comes_back_with_it() -> None:
    shield = EchoShield()
    lines = list(range(200, 216))
    shield.taint(typed(shield, 4, t0=10.0, after=10.6))
    a = Screen(lines)
    shield.protect(a.buf, W, H, a.stacking(), 11.0)
    # A full-screen program replaces everything: the taint's place now shows other content.
    other = Screen(list(range(5000, 5016)))
    assert shield.protect(other.buf, W, H, other.stacking(), 12.0) == 0
    # It exits and the terminal restores the screen: the secret's line is back, and filled.
    restored = Screen(lines)
    assert shield.protect(restored.buf, W, H, restored.stacking(), 13.0) > 0
    assert restored.filled(WINDOW.x + 44, WINDOW.y + 4 * LINE + 4)


def test_a_taint_is_window_relative_and_only_fills_its_own_visible_in_scope_window() -> None:
    shield = EchoShield()
    shield.taint(typed(shield, 1, t0=10.0, after=10.6))
    moved = Rect(40, 30, 260, 200)
    screen = Screen(list(range(10)), window=moved)
    shield.protect(screen.buf, W, H, screen.stacking(), 11.0)
    assert screen.filled(moved.x + 44, moved.y + LINE + 4)
    # Not in this frame's stacking as in scope (masked anyway): nothing is done to it.
    hidden = Screen(list(range(10)))
    assert shield.protect(hidden.buf, W, H, hidden.stacking(in_scope=False), 12.0) == 0
    assert shield.taints == 1


def test_many_taints_are_folded_never_forgotten() -> None:
    shield = EchoShield(max_taints=3)
    for i in range(6):
        shield.taint(typed(shield, i + 1, t0=10.0 + i, chars=2, after=10.5 + i))
    assert shield.taints == 3
    screen = Screen(list(range(20)))
    shield.protect(screen.buf, W, H, screen.stacking(), 30.0)
    for i in range(6):
        assert screen.filled(WINDOW.x + 44, WINDOW.y + (i + 1) * LINE + 4), f"line {i + 1}"


def test_what_the_ending_key_changes_is_not_part_of_the_echo() -> None:
    shield = EchoShield()
    span = typed(shield, 3, t0=10.0, after=10.4)
    # Return: the caret goes to the start of the next line; the changed box spans both lines.
    shield.damage(10.4, Rect(WINDOW.x, WINDOW.y + 3 * LINE, 200, 2 * LINE))
    shield.taint(span)
    screen = Screen(list(range(10)))
    shield.protect(screen.buf, W, H, screen.stacking(), 11.0)
    assert screen.filled(WINDOW.x + 44, WINDOW.y + 3 * LINE + 4)
    assert not screen.filled(WINDOW.x + 10, WINDOW.y + 3 * LINE + 4)  # the prompt before the secret
    assert not screen.filled(WINDOW.x + 10, WINDOW.y + 4 * LINE + 4)  # the next line
