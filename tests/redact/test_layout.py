"""Changed regions and text lines from pixels (no OCR)."""

from __future__ import annotations

import numpy as np
import pytest

from jobshadow.redact import layout
from jobshadow.redact.model import Box
from tests.redact._screens import screen


def test_changed_boxes_find_only_what_changed() -> None:
    a = screen(["first line of text", "second line"])
    b = a.copy()
    b[100:110, 300:340] = 0
    boxes = layout.changed_boxes(layout.changed_mask(layout.luma(a), layout.luma(b)))
    assert len(boxes) == 1
    box = boxes[0]
    assert box.x <= 300 and box.right >= 340 and box.y <= 100 and box.bottom >= 110
    assert box.area < 64 * 32  # tiles, not the screen


def test_codec_noise_is_not_a_change() -> None:
    a = screen(["steady text"])
    rng = np.random.default_rng(1)
    noisy = np.clip(a.astype(np.int16) + rng.integers(-8, 9, a.shape), 0, 255).astype(np.uint8)
    assert layout.changed_boxes(layout.changed_mask(layout.luma(a), layout.luma(noisy))) == []


def test_a_typed_character_grows_to_its_whole_line() -> None:
    img = screen(["password: hunter2 and more words", "next line"])
    gray = layout.luma(img)
    ink = layout.ink(gray)
    # One character cell in the middle of line 0 changed.
    grown = layout.grow_to_lines(Box(150, 14, 10, 10), ink)
    assert grown.x <= 14 and grown.right >= 12 + 30 * 9  # the keyword on the left comes along
    assert grown.bottom <= 40  # not the next line


def test_lines_are_split_and_window_borders_ignored() -> None:
    img = screen(["alpha beta gamma", "delta epsilon", "zeta"], size=(600, 200))
    img[:, 3:5] = 0  # a window border crossing every line
    img[150:152, :] = 0  # a separator rule
    gray = layout.luma(img)
    lines = layout.split_lines(Box(0, 0, 600, 200), layout.ink(gray))
    assert len(lines) == 3
    assert all(b.x > 5 and b.h < 30 for b in lines)


def test_columns_far_apart_are_separate_lines() -> None:
    img = screen(["left", ""], size=(900, 100))
    img2 = screen(["right side text"], size=(400, 100))
    img[:, 500:900] = img2[:, :400]
    lines = layout.split_lines(Box(0, 0, 900, 100), layout.ink(layout.luma(img)))
    assert len(lines) == 2


@pytest.mark.parametrize("char", ["l", "i", ":", "1"])
def test_one_thin_typed_character_is_a_change(char: str) -> None:
    before = screen(["echo hunter"], px=11)
    after = screen([f"echo hunter{char}"], px=11)
    boxes = layout.changed_boxes(layout.changed_mask(layout.luma(before), layout.luma(after)))
    assert len(boxes) == 1
