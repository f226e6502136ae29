"""The stream redactor on Pillow-drawn screens with the real tesseract: what is filled, what is
kept across frames, and failing closed."""

from __future__ import annotations

import time

import numpy as np
import pytest

from jobshadow.redact import RedactionFailed, StreamRedactor, TesseractOcr, Word, layout, redact_image
from jobshadow.redact.model import Box
from jobshadow.redact.reader import LineReader
from jobshadow.sensitive import DetectorFailed
from tests.redact._screens import screen

SECRET = "AKIAZ4QXW7PLM3NRT2VB"
LINES = [f"deploy with {SECRET} then", "quarterly roadmap review notes"]


@pytest.fixture(scope="module")
def ocr() -> TesseractOcr:
    return TesseractOcr()


def read_text(ocr: TesseractOcr, image: np.ndarray) -> str:
    gray = layout.luma(image)
    lines = layout.split_lines(Box(0, 0, gray.shape[1], gray.shape[0]), layout.ink(gray))
    words, _ = LineReader(ocr).read(gray, lines, deadline=time.monotonic() + 30)
    return " ".join(w.text for w in words)


class Scripted:
    """An OCR double: the real engine for the first ``real`` calls, then nothing, and a record of
    every image it was given."""

    def __init__(self, inner: TesseractOcr, real: int = 1, fail: BaseException | None = None) -> None:
        self.inner, self.real, self.fail = inner, real, fail
        self.calls: list[tuple[int, int]] = []

    def read(self, gray: np.ndarray, *, deadline: float) -> list[Word]:
        self.calls.append(gray.shape)
        if self.fail is not None:
            raise self.fail
        if len(self.calls) <= self.real:
            return self.inner.read(gray, deadline=deadline)
        return []


@pytest.mark.parametrize("dark", [False, True])
def test_the_secret_is_filled_and_ordinary_text_is_kept(ocr: TesseractOcr, dark: bool) -> None:
    image = screen(LINES, dark=dark)
    assert "roadmap" in read_text(ocr, image) and "AKIA" in read_text(ocr, image)
    result = redact_image(image, ocr)
    assert not result.failed and result.image is not None
    assert [f.kind for f in result.findings] == ["aws_access_key"]
    after = read_text(ocr, result.image)
    assert "AKIA" not in after and "NRT2" not in after
    assert "deploy" in after and "roadmap" in after and "review" in after
    assert np.array_equal(result.image[40:70], image[40:70])  # the ordinary line is untouched


def test_a_finding_in_unchanged_pixels_stays_filled(ocr: TesseractOcr) -> None:
    scripted = Scripted(ocr, real=1)  # frame 2 is read by an OCR that sees nothing at all
    redactor = StreamRedactor(scripted)
    first = redactor.redact(screen(LINES))
    assert [f.kind for f in first.findings] == ["aws_access_key"]
    second = redactor.redact(screen([*LINES, "", "a new line typed below"]))
    assert not second.failed and second.image is not None
    assert [(f.kind, f.source) for f in second.findings] == [("aws_access_key", "kept")]
    box = second.findings[0].box
    assert (second.image[box.y:box.bottom, box.x:box.right] == 0).all()
    # Only the new line was read, not the screen.
    assert scripted.calls[1][0] < 80 and second.ocr_boxes == 1


def test_an_unchanged_frame_reads_nothing(ocr: TesseractOcr) -> None:
    scripted = Scripted(ocr, real=1)
    redactor = StreamRedactor(scripted)
    redactor.redact(screen(LINES))
    again = redactor.redact(screen(LINES))
    assert not again.changed and len(scripted.calls) == 1
    assert [f.source for f in again.findings] == ["kept"]


def test_a_scrolled_finding_follows_its_pixels(ocr: TesseractOcr) -> None:
    redactor = StreamRedactor(Scripted(ocr, real=1))
    before = screen(["header", *LINES], top=40)
    redactor.redact(before)
    scrolled = screen(["header", *LINES], top=16)
    result = redactor.redact(scrolled)
    moved = [f for f in result.findings if f.kind == "aws_access_key"]
    assert moved and moved[0].source == "moved"
    assert result.image is not None
    assert "AKIA" not in read_text(ocr, result.image)


@pytest.mark.parametrize("failure", [RedactionFailed("OCR failed: RuntimeError"), RuntimeError("engine crashed")])
def test_an_ocr_failure_fails_the_frame_closed(ocr: TesseractOcr, failure: BaseException) -> None:
    redactor = StreamRedactor(Scripted(ocr, fail=failure))
    result = redactor.redact(screen(LINES))
    assert result.failed and result.image is None and result.findings == ()
    assert result.reason and SECRET not in result.reason


def test_a_detector_failure_fails_the_frame_closed(ocr: TesseractOcr, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(text: str, *, strict: bool = False) -> list[object]:
        raise DetectorFailed("a detector raised")

    monkeypatch.setattr("jobshadow.redact.detect.scan", broken)
    result = StreamRedactor(ocr).redact(screen(LINES))
    assert result.failed and result.image is None and result.reason == "the secret detector failed"


def test_a_timeout_fails_the_frame_and_keeps_the_state(ocr: TesseractOcr) -> None:
    redactor = StreamRedactor(ocr)
    first = redactor.redact(screen(LINES))
    redactor.timeout_s = 0.0
    late = redactor.redact(screen([*LINES, "more text"]))
    assert late.failed and late.image is None and "timed out" in (late.reason or "")
    redactor.timeout_s = 30.0
    # The failed frame changed nothing: the next one is compared with the last good one.
    nxt = redactor.redact(screen([*LINES, "more text"]))
    assert not nxt.failed and {f.kind for f in nxt.findings} == {f.kind for f in first.findings}


@pytest.mark.parametrize("frame", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32), "not an array"])
def test_a_bad_frame_fails(ocr: TesseractOcr, frame: object) -> None:
    result = StreamRedactor(ocr).redact(frame)  # type: ignore[arg-type]
    assert result.failed and result.image is None
