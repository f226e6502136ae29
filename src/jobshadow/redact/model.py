"""The records the screen redactor passes around: boxes, recognised words, findings, results.

Everything here is frozen: a stage returns new records and never edits the ones it was given.
Coordinates are frame pixels, ``x, y`` the top-left corner, ``w, h`` the size (the order the CLI
prints them in).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from jobshadow.errors import RedactionFailed as RedactionFailed  # defined in the one tree

if TYPE_CHECKING:
    import numpy as np

# Where a finding came from: the shared detector over recognised text, a shape rule that does
# not need the text to be read exactly (OCR confusions), or an earlier frame (kept because its
# pixels did not change, or followed to where the same pixels moved).
Source = Literal["detector", "shape", "kept", "moved"]


@dataclass(frozen=True, slots=True)
class Box:
    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h

    @property
    def area(self) -> int:
        return self.w * self.h

    def union(self, other: Box) -> Box:
        x, y = min(self.x, other.x), min(self.y, other.y)
        return Box(x, y, max(self.right, other.right) - x, max(self.bottom, other.bottom) - y)

    def intersects(self, other: Box, margin: int = 0) -> bool:
        return (self.x - margin < other.right and other.x - margin < self.right
                and self.y - margin < other.bottom and other.y - margin < self.bottom)

    def overlap(self, other: Box) -> int:
        w = min(self.right, other.right) - max(self.x, other.x)
        h = min(self.bottom, other.bottom) - max(self.y, other.y)
        return w * h if w > 0 and h > 0 else 0

    def padded(self, pad: int, width: int, height: int) -> Box:
        """Grown by ``pad`` on every side, clipped to a ``width`` x ``height`` frame."""
        x, y = max(0, self.x - pad), max(0, self.y - pad)
        return Box(x, y, min(width, self.right + pad) - x, min(height, self.bottom + pad) - y)

    def shifted(self, dx: int, dy: int) -> Box:
        return Box(self.x + dx, self.y + dy, self.w, self.h)

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


@dataclass(frozen=True, slots=True)
class Word:
    """One word the OCR recognised: its text, its box in frame pixels and its confidence (0-100)."""

    text: str
    box: Box
    conf: float


@dataclass(frozen=True, slots=True)
class ScreenFinding:
    """A secret or piece of personal data on screen: its kind (one of ``jobshadow.sensitive.KINDS``)
    and the box that is filled (before padding)."""

    kind: str
    box: Box
    source: Source


@dataclass(frozen=True, slots=True)
class RedactionResult:
    """What redacting one frame produced.

    ``image`` is the redacted RGB frame, or None when the frame failed: a failed frame has no
    image at all, so a caller cannot pass the original through by mistake. ``reason`` says why it
    failed (never recognised text). ``seconds`` is the wall time spent; ``ocr_boxes`` and
    ``ocr_pixels`` count the text lines that were recognised afresh (not from the line cache).
    """

    image: np.ndarray | None
    findings: tuple[ScreenFinding, ...]
    seconds: float
    failed: bool = False
    reason: str | None = None
    changed: bool = True
    ocr_boxes: int = 0
    ocr_pixels: int = 0

    def findings_json(self) -> list[dict[str, object]]:
        return [{"kind": f.kind, "box": f.box.as_list()} for f in self.findings]
