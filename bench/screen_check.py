"""The benchmark's independent reader: can a second OCR still read a value after redaction?

The redactor reads with tesseract (LSTM, line images it prepares itself). The checker is
RapidOCR (PP-OCRv4 detection and recognition networks, run by onnxruntime on the whole screen
image as rendered): a different text detector, a different recogniser trained on different
data, different preprocessing, different scale. What one misses the other often reads, so a value
the checker cannot read after redaction is evidence that it is gone, and it is not the redactor
grading itself. Limits: the checker is one more OCR, not a person. A value it cannot read even
before redaction says nothing either way, so such values are left out of the leak figure (and
counted). It reads small bitmap fonts less well than large ones.

Matching is lenient towards the attacker: both sides are case-folded and OCR look-alikes are
merged (o/0, i/l/1, s/5, b/8, z/2), punctuation and spaces are dropped, and a value counts as
legible if *any* stretch of a third of it (at least 10 characters, at most 24) appears with at
most one edit. So half a key showing is a leak, and so is a whole e-mail domain next to the
visible part of its local name.
"""

from __future__ import annotations

import re

import numpy as np

_FOLD = str.maketrans("oqilsbz|!", "001158211")


def fold(s: str) -> str:
    return "".join(ch for ch in s.lower().translate(_FOLD) if ch.isalnum())


def window(n: int) -> int:
    return min(n, max(10, min(24, -(-n // 3))))


class Checker:
    """RapidOCR over a whole image; one engine, reused."""

    def __init__(self) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self.engine = RapidOCR()

    def read(self, image: np.ndarray) -> str:
        result, _ = self.engine(image)
        lines = [text for _box, text, _conf in (result or [])]
        return "\n".join(lines)


def _lev_at_most_one(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1:]


def _near(w: str, text: str) -> bool:
    """Is ``w`` in ``text`` with at most one edit?"""
    if w in text:
        return True
    k = len(w)
    half = k // 2
    for piece, offset in ((w[:half], 0), (w[half:], half)):
        if not piece:
            continue
        start = text.find(piece)
        while start != -1:
            base = start - offset
            for s in (base - 1, base, base + 1):
                for length in (k - 1, k, k + 1):
                    if s >= 0 and s + length <= len(text) and _lev_at_most_one(w, text[s:s + length]):
                        return True
            start = text.find(piece, start + 1)
    return False


def legible(value: str, text: str) -> bool:
    """Can any third of ``value`` be read in ``text`` (both raw; folded here)?"""
    v, t = fold(value), fold(text)
    if not v:
        return False
    k = window(len(v))
    return any(_near(v[i:i + k], t) for i in range(len(v) - k + 1))


def word_count(word: str, text: str) -> int:
    letters = re.sub(r"[^a-z]", "", text.lower())
    return letters.count(word.lower())
