"""Scrolled lines are moved with their reading, not read again; changed lines are read."""

from __future__ import annotations

import pytest

from jobshadow.redact import StreamRedactor, TesseractOcr, layout
from jobshadow.redact.memory import LineMemory, scroll_shift
from jobshadow.redact.model import Box, Word
from tests.redact._screens import screen

SECRET = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
DOC = [f"{n:04d} notes about the quarterly roadmap item {n}" for n in range(30)]
DOC[12] = f"token {SECRET} in line twelve"


@pytest.fixture(scope="module")
def ocr() -> TesseractOcr:
    return TesseractOcr()


def test_a_scroll_reads_only_the_new_lines_and_keeps_the_secret_filled(ocr: TesseractOcr) -> None:
    redactor = StreamRedactor(ocr)
    first = redactor.redact(screen(DOC[:20], size=(700, 500)))
    assert first.ocr_boxes >= 20
    scrolled = redactor.redact(screen(DOC[3:23], size=(700, 500)))  # three lines up
    assert not scrolled.failed
    assert scrolled.ocr_boxes <= 4  # the three new lines (and perhaps one cut at the edge)
    secret = [f for f in scrolled.findings if f.kind == "github_token"]
    assert secret and secret[0].box.y == first.findings[0].box.y - 3 * 24


def test_the_shift_is_found_among_look_alike_lines() -> None:
    a = layout.luma(screen(DOC[:20], size=(700, 500)))
    b = layout.luma(screen(DOC[4:24], size=(700, 500)))
    lines = layout.split_lines(Box(0, 0, 700, 500), layout.ink(b))
    assert scroll_shift(a, b, Box(0, 0, 700, 500), lines) == 4 * 24


def test_a_line_that_changed_is_not_taken_from_memory() -> None:
    a = layout.luma(screen(DOC[:20], size=(700, 500)))
    edited = DOC[2:22]
    edited[5] = "0007 notes about the quarterly roadmap item 8"  # one line differs after the scroll
    b = layout.luma(screen(edited, size=(700, 500)))
    lines = layout.split_lines(Box(0, 0, 700, 500), layout.ink(b))
    memory = LineMemory()
    assert memory.match(a, b, Box(0, 0, 700, 500), lines) == {}  # nothing read yet: nothing to move

    memory.words = [Word("x", Box(line.x, line.y + 48, 5, 5), 90.0) for line in lines]
    moved = memory.match(a, b, Box(0, 0, 700, 500), lines)
    changed = min(range(len(lines)), key=lambda i: abs(lines[i].y - (10 + 5 * 24)))
    assert changed not in moved and len(moved) >= 15
