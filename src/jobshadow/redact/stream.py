"""The stateful redactor of one screen stream: frames in order, only what changed is read.

``StreamRedactor.redact(frame)`` compares the frame with the last frame it redacted, OCRs the
text lines the changes touch (grown to whole lines), runs the detector and the shape rules, and
returns the frame with every finding filled. Its state between frames:

* the reference luma: each pixel as it was when it was last read (the base of the next diff; a
  change below the codec-noise threshold is never lost, it accumulates until it is read);
* the active findings, each with the pixels it covered when it was found. A finding whose pixels
  are still there stays filled in every later frame, whether or not its region is read again,
  so a secret never reappears because its region did not change (or because a re-read of a
  changed line around it misread it). A finding whose pixels changed is looked for straight up
  and down (a scroll) and follows them if found; otherwise it is dropped, and the new pixels
  there were read as part of the change;
* the line cache of its ``LineReader``, and the words on screen as last read (``LineMemory``), so a
  scrolled line is moved rather than read again.

Fail closed: any error (OCR failure or timeout, detector failure, a bad frame, a bug) gives a
result with ``failed=True``, no image and a reason, and leaves the state as it was, so the next
frame is compared with the last frame that was redacted. The caller withholds a failed frame.

Not thread-safe: one redactor per stream, frames given from one thread. Several streams may
share one ``TesseractOcr`` (it keeps one tesseract per thread).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from jobshadow.redact import detect, layout
from jobshadow.redact.memory import LineMemory, panes
from jobshadow.redact.model import Box, RedactionFailed, RedactionResult, ScreenFinding, Source, Word
from jobshadow.redact.ocr import Ocr, TesseractOcr
from jobshadow.redact.paint import FILL, PAD, fill
from jobshadow.redact.reader import LineReader
from jobshadow.sensitive import DetectorFailed

log = logging.getLogger(__name__)

MAX_PIXELS = 8192 * 8192
# Pixels of a finding count as "still there" when at most this share moved by more than the
# codec's noise: one edited character of a 20-character key is ~5% of its box.
SAME_SHARE = 0.03
MAX_TRACK_CANDIDATES = 64
NOISE = 24  # a pixel of a finding moved by more than this counts as changed


@dataclass(frozen=True, slots=True)
class _Active:
    kind: str
    box: Box
    ref: np.ndarray  # the luma under ``box`` when it was found


class StreamRedactor:
    """Redacts the frames of one stream, in order. See the module docstring for its state."""

    def __init__(self, ocr: Ocr | None = None, *, timeout_s: float = 30.0, pad: int = PAD,
                 colour: tuple[int, int, int] = FILL) -> None:
        self.ocr = ocr if ocr is not None else TesseractOcr()
        self.timeout_s = timeout_s
        self.pad = pad
        self.colour = colour
        self._reader = LineReader(self.ocr)
        self._memory = LineMemory()
        self._prev: np.ndarray | None = None
        self._active: list[_Active] = []

    @property
    def active(self) -> tuple[ScreenFinding, ...]:
        """Findings currently kept: they are filled in every frame while their pixels stay."""
        return tuple(ScreenFinding(a.kind, a.box, "kept") for a in self._active)

    def reset(self) -> None:
        """Forget the previous frame and the findings (a new stream: the next frame is read whole)."""
        self._prev = None
        self._active = []
        self._memory.clear()

    def redact(self, frame: np.ndarray) -> RedactionResult:
        """Redact the next frame (H x W x 3 or 4 uint8 RGB(A)); never raises for a bad frame."""
        t0 = time.perf_counter()
        try:
            return self._redact(frame, t0)
        except RedactionFailed as exc:
            reason = str(exc)
        except DetectorFailed:
            reason = "the secret detector failed"
        except Exception as exc:  # fail closed on anything: the caller withholds the frame
            log.warning("screen redaction failed with %s", type(exc).__name__, exc_info=log.isEnabledFor(logging.DEBUG))
            reason = f"internal error: {type(exc).__name__}"
        return RedactionResult(None, (), time.perf_counter() - t0, failed=True, reason=reason)

    def _redact(self, frame: np.ndarray, t0: float) -> RedactionResult:
        deadline = time.monotonic() + self.timeout_s
        _check(frame)
        gray = layout.luma(frame)
        height, width = gray.shape
        prev = self._prev if self._prev is not None and self._prev.shape == gray.shape else None
        if prev is None:
            self._memory.clear()
            changes = [Box(0, 0, width, height)]
            mask = np.ones(gray.shape, dtype=bool)
            active: list[_Active] = []
        else:
            mask = layout.changed_mask(prev, gray)
            changes = layout.changed_boxes(mask) if mask.any() else []
            active = self._active
        words: list[Word] = []
        stats = None
        regions: list[Box] = []
        if changes:
            ink = layout.ink_near(gray, changes)
            regions = layout.merge([layout.grow_to_lines(b, ink) for b in changes], margin=2)
            lines: list[Box] = []
            for pane, members in panes(regions):
                boxes = [line for r in members for line in layout.split_lines(r, ink)]
                moved = self._memory.match(prev, gray, pane, boxes) if prev is not None else {}
                lines += [line for i, line in enumerate(boxes) if i not in moved]
                for known in moved.values():
                    words += known
            read, stats = self._reader.read(gray, lines, deadline=deadline)
            words += read
        found = detect.find(words)
        if time.monotonic() > deadline:
            raise RedactionFailed("redaction timed out")
        kept, kept_findings = self._carry(active, gray, mask if changes else None)
        new = [f for f in found if not any(_covers(k.box, f.box) for k in kept)]
        for f in new:
            kept.append(_Active(f.kind, f.box, gray[f.box.y:f.box.bottom, f.box.x:f.box.right].copy()))
        findings = (*kept_findings, *new)
        image = fill(frame, (f.box for f in findings), self.colour, self.pad)
        if prev is None:
            self._prev = gray
        else:
            # The reference moves on only where the frame was read: changes too small to count
            # (an encoder sharpening text over several frames) add up until they are read.
            ref = prev.copy()
            for r in regions:
                ref[r.y:r.bottom, r.x:r.right] = gray[r.y:r.bottom, r.x:r.right]
            self._prev = ref
        self._memory.commit(regions, words)
        self._active = kept
        return RedactionResult(image, tuple(findings), time.perf_counter() - t0, changed=bool(changes),
                               ocr_boxes=stats.boxes if stats else 0, ocr_pixels=stats.pixels if stats else 0)

    def _carry(self, active: list[_Active], gray: np.ndarray,
               mask: np.ndarray | None) -> tuple[list[_Active], list[ScreenFinding]]:
        """Earlier findings whose pixels are still on screen: where they were, or moved up/down."""
        kept: list[_Active] = []
        out: list[ScreenFinding] = []
        for a in active:
            b = a.box
            source: Source = "kept"
            if mask is not None and mask[b.y:b.bottom, b.x:b.right].any() and not _same(
                    gray[b.y:b.bottom, b.x:b.right], a.ref):
                moved = _find_moved(a, gray)
                if moved is None:
                    continue
                b, source = moved, "moved"
            kept.append(_Active(a.kind, b, a.ref))
            out.append(ScreenFinding(a.kind, b, source))
        return kept, out


def redact_image(image: np.ndarray, ocr: Ocr | None = None, *, timeout_s: float = 30.0) -> RedactionResult:
    """Redact one stand-alone image (a new stream of one frame)."""
    return StreamRedactor(ocr, timeout_s=timeout_s).redact(image)


def _check(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise RedactionFailed("a frame must be an H x W x 3 (or 4) uint8 array")
    h, w = frame.shape[:2]
    if h < 1 or w < 1 or h * w > MAX_PIXELS:
        raise RedactionFailed(f"a frame of {w}x{h} is outside the supported size")


def _same(crop: np.ndarray, ref: np.ndarray) -> bool:
    if crop.shape != ref.shape:
        return False
    moved = np.abs(crop.astype(np.int16) - ref.astype(np.int16)) > NOISE
    return bool(moved.mean() <= SAME_SHARE)


def _covers(outer: Box, inner: Box) -> bool:
    return outer.overlap(inner) >= 0.8 * inner.area


def _find_moved(a: _Active, gray: np.ndarray) -> Box | None:
    """Where ``a``'s pixels are now in the same columns (a scroll), if anywhere."""
    h, w = a.ref.shape
    height, width = gray.shape
    if a.box.right > width or h > height:
        return None
    probe_row = int(np.argmax(a.ref.astype(np.float32).var(axis=1)))
    probe = a.ref[probe_row].astype(np.int16)
    columns = gray[:, a.box.x:a.box.right].astype(np.int16)
    score = np.abs(columns - probe).mean(axis=1)
    for y in np.flatnonzero(score < 6)[:MAX_TRACK_CANDIDATES]:
        top = int(y) - probe_row
        if top < 0 or top + h > height or top == a.box.y:
            continue
        if _same(gray[top:top + h, a.box.x:a.box.right], a.ref):
            return Box(a.box.x, top, w, h)
    return None
