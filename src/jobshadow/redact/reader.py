"""Reading text lines: normalise each line, stack them into one image, OCR once, map words back.

Each line box from ``layout.split_lines`` is cropped from the frame's luma, inverted when it is
light text on a dark background, contrast-stretched and scaled so its text is ~30 px tall
(tesseract misses xterm's small fixed font at 1x and reads it at 2x). The prepared lines are
stacked one under another with white gaps and recognised in one call, which costs far less than
one call per line and spares tesseract the screen-layout analysis it is bad at. Word boxes come
back to frame pixels through each line's placement and scale.

``LineReader`` keeps a bounded cache from a line's exact pixels to the words read in it, so a line
that comes back unchanged (a window switched back to, the same prompt) is not recognised again,
(lines a scroll moved are handled by ``jobshadow.redact.memory``).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from jobshadow.redact.model import Box, Word
from jobshadow.redact.ocr import Ocr

MARGIN = 4  # background added around a line (frame pixels): tesseract wants some space
GAP = 14  # white rows between stacked lines in the composite (scaled pixels)
PAD = 10  # white border of the composite
MAX_COMPOSITE_H = 6000  # tesseract's own limits are far above; this bounds one call's latency
CACHE_LINES = 4096


def scale_for(height: int) -> float:
    """Upscale factor for a line box of ``height`` frame pixels (aim: text ~25-35 px tall).

    xterm's default fixed font (13 px rows) is missed at 1x and read at 2x; lines of 14-21 px
    read as well at 1.5x as at 2x for half the pixels, and OCR time grows with pixels.
    """
    if height >= 22:
        return 1.0
    if height >= 14:
        return 1.5
    if height >= 10:
        return 2.0
    return 3.0


def _scale(crop: np.ndarray, typical: int) -> float:
    # Lines of one size are scaled alike even when their boxes differ (a line of digits has no
    # ascenders or descenders; a line joined to a block cursor is taller): tesseract reads a
    # block of one text size far better than a mix, and drops lines that stand out.
    h = crop.shape[0]
    if 0.6 * typical <= h <= 1.4 * typical:
        return scale_for(typical)
    return scale_for(min(h, int(typical * 1.4)))


def prepare(crop: np.ndarray, scale: float) -> np.ndarray:
    """Dark text on white, a margin of its own background, scaled: what tesseract reads best.

    The margin is painted rather than cropped from the frame, because a window border or the
    next line's descenders next to the text are read as `|`, `[` or a stray letter. Bilinear
    upscaling read xterm's fixed font best (nearest keeps the jagged bitmap edges, bicubic and
    Lanczos ring).
    """
    from PIL import Image

    background = int(np.bincount(crop.ravel(), minlength=256).argmax())
    img = np.pad(crop, MARGIN, constant_values=background)
    if background < 128:
        img = 255 - img
        background = 255 - background
    # Stretch so the background is white and the darkest ink black: tesseract binarises the
    # whole composite with one threshold, and a line from a coloured row (a diff's green, a
    # selected cell) otherwise keeps a grey background that lands on the wrong side of it.
    lo = int(img.min())
    if background - lo >= 24 and (background < 255 or lo > 0):
        img = np.clip((img.astype(np.int32) - lo) * 255 // (background - lo), 0, 255).astype(np.uint8)
    if scale > 1:
        pil = Image.fromarray(np.ascontiguousarray(img))
        size = (round(pil.width * scale), round(pil.height * scale))
        img = np.asarray(pil.resize(size, Image.Resampling.BILINEAR))
    return img


@dataclass(frozen=True, slots=True)
class Reading:
    """Words read in one line box: text, x, y, w, h (box pixels, floats), confidence."""

    words: tuple[tuple[str, float, float, float, float, float], ...]


@dataclass(frozen=True, slots=True)
class ReadStats:
    boxes: int  # line boxes recognised afresh
    pixels: int  # frame pixels in them
    cached: int  # line boxes answered from the cache


class LineReader:
    """OCR of line boxes with a content cache. One per stream: not thread-safe."""

    def __init__(self, ocr: Ocr, cache_lines: int = CACHE_LINES) -> None:
        self.ocr = ocr
        self._cache: OrderedDict[bytes, Reading] = OrderedDict()
        self._cache_lines = cache_lines

    def read(self, gray: np.ndarray, lines: list[Box], *, deadline: float) -> tuple[list[Word], ReadStats]:
        words: list[Word] = []
        todo: list[tuple[Box, np.ndarray, bytes]] = []
        cached = 0
        for line in lines:
            crop_box = line
            crop = gray[crop_box.y:crop_box.bottom, crop_box.x:crop_box.right]
            digest = hashlib.blake2b(np.ascontiguousarray(crop).data, digest_size=16)
            digest.update(np.asarray(crop.shape, dtype=np.int32).tobytes())
            key = digest.digest()
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                words.extend(_place(hit, crop_box))
                cached += 1
            else:
                todo.append((crop_box, crop, key))
        typical = int(np.median([b.h for b in lines])) if lines else 0
        for batch in _batches(todo, typical):
            for (crop_box, _crop, key), found in zip(batch, self._recognise(batch, typical, deadline), strict=True):
                self._remember(key, found)
                words.extend(_place(found, crop_box))
        pixels = sum(b.area for b, _, _ in todo)
        return words, ReadStats(len(todo), pixels, cached)

    def _recognise(self, batch: list[tuple[Box, np.ndarray, bytes]], typical: int, deadline: float) -> list[Reading]:
        prepared = [(prepare(crop, s), s) for _, crop, _ in batch for s in (_scale(crop, typical),)]
        width = max(p.shape[1] for p, _ in prepared) + 2 * PAD
        height = sum(p.shape[0] for p, _ in prepared) + GAP * (len(prepared) - 1) + 2 * PAD
        canvas = np.full((height, width), 255, dtype=np.uint8)
        tops: list[int] = []
        y = PAD
        for img, _ in prepared:
            canvas[y:y + img.shape[0], PAD:PAD + img.shape[1]] = img
            tops.append(y)
            y += img.shape[0] + GAP
        per_line: list[list[tuple[str, float, float, float, float, float]]] = [[] for _ in prepared]
        for w in self.ocr.read(canvas, deadline=deadline):
            cy = w.box.y + w.box.h / 2
            i = _line_at(tops, cy)
            img, s = prepared[i]
            if cy > tops[i] + img.shape[0] + GAP / 2:
                continue  # noise in the gap below a line
            per_line[i].append((w.text, (w.box.x - PAD) / s - MARGIN, (w.box.y - tops[i]) / s - MARGIN,
                                w.box.w / s, w.box.h / s,
                                w.conf))
        return [Reading(tuple(found)) for found in per_line]

    def _remember(self, key: bytes, found: Reading) -> None:
        self._cache[key] = found
        if len(self._cache) > self._cache_lines:
            self._cache.popitem(last=False)


def _line_at(tops: list[int], y: float) -> int:
    import bisect

    return max(0, bisect.bisect_right(tops, y) - 1)


def _place(found: Reading, crop_box: Box) -> list[Word]:
    out: list[Word] = []
    for text, x, y, w, h, conf in found.words:
        if not text:
            continue
        x0, y0 = int(np.floor(crop_box.x + x)), int(np.floor(crop_box.y + y))
        x1, y1 = int(np.ceil(crop_box.x + x + w)), int(np.ceil(crop_box.y + y + h))
        out.append(Word(text, Box(x0, y0, max(1, x1 - x0), max(1, y1 - y0)), conf))
    return out


def _batches(todo: list[tuple[Box, np.ndarray, bytes]], typical: int) -> list[list[tuple[Box, np.ndarray, bytes]]]:
    """Lines grouped by scale (one text size per composite), each group cut to MAX_COMPOSITE_H."""
    by_scale: dict[float, list[tuple[Box, np.ndarray, bytes]]] = {}
    for item in todo:
        by_scale.setdefault(_scale(item[1], typical), []).append(item)
    out: list[list[tuple[Box, np.ndarray, bytes]]] = []
    for scale, items in sorted(by_scale.items()):
        current: list[tuple[Box, np.ndarray, bytes]] = []
        h = 0
        for item in items:
            lh = round((item[1].shape[0] + 2 * MARGIN) * scale) + GAP
            if current and h + lh > MAX_COMPOSITE_H:
                out.append(current)
                current, h = [], 0
            current.append(item)
            h += lh
        if current:
            out.append(current)
    return out
