"""End to end on a real X server: a secret typed into xterm is echoed on screen; after redaction
an independent OCR (RapidOCR) can no longer read it, while it still reads the ordinary words."""

from __future__ import annotations

import os
import time

import mss
import numpy as np
import pytest

from jobshadow.redact import StreamRedactor
from jobshadow.testing.xdesktop import Desktop, xterm

pytestmark = [pytest.mark.x11, pytest.mark.slow]

SECRET = "AKIAZ4QXW7PLM3NRT2VB"
EMAIL = "jane.doe@example.com"
ORDINARY = ("quarterly", "roadmap", "meeting")


def grab(display: str) -> np.ndarray:
    os.environ["DISPLAY"] = display
    with mss.MSS() as s:
        shot = s.grab(s.monitors[1])
        return np.frombuffer(shot.bgra, np.uint8).reshape(shot.height, shot.width, 4)[..., 2::-1].copy()


def fold(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def test_a_typed_secret_is_unreadable_after_redaction(desktop: Desktop) -> None:
    from rapidocr_onnxruntime import RapidOCR

    checker = RapidOCR()

    def read(image: np.ndarray) -> str:
        result, _ = checker(image)
        return fold(" ".join(text for _box, text, _conf in (result or [])))

    window = xterm(desktop, "work", geometry="120x30+0+0", title="work")
    desktop.activate(window)
    redactor = StreamRedactor()
    first = redactor.redact(grab(desktop.display))  # the empty terminal: a whole-screen read
    assert not first.failed
    desktop.xdotool("type", "--delay", "10", f"the quarterly roadmap meeting: key {SECRET} mail {EMAIL}\n")
    deadline = time.monotonic() + 20
    frame = grab(desktop.display)
    while "nrt2vb" not in read(frame[:200, :900]):  # wait until the echo is on screen (both copies)
        assert time.monotonic() < deadline, "the typed text never appeared"
        frame = grab(desktop.display)
    before = read(frame)
    assert fold(SECRET)[4:] in before and "quarterly" in before
    result = redactor.redact(frame)
    assert not result.failed and result.image is not None
    assert result.ocr_pixels < frame.shape[0] * frame.shape[1] // 10  # only the changed lines were read
    after = read(result.image)
    for part in (fold(SECRET)[:10], fold(SECRET)[10:], "janedoe", "examplecom"):
        assert part not in after
    for word in ORDINARY:
        assert word in after
    assert {"aws_access_key", "email"} <= {f.kind for f in result.findings}
