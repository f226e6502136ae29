"""Where text is and what changed: pixel diffs to boxes, boxes to whole text lines (numpy only).

* ``luma`` and ``ink``: text is found by its edges (a strong step between neighbouring pixels),
  so dark and light themes, coloured panels and anti-aliased fonts all look alike, and flat UI
  surfaces of any colour are empty.
* ``changed_boxes``: tiles whose pixels differ from the previous frame, joined into boxes. A
  small per-pixel tolerance absorbs video-codec noise; anything above it counts.
* ``grow_to_lines``: a change (one typed character) is widened to the whole text line around it
  and heightened to that line's full height, because the detector needs the rest of the token
  and the keyword before it, which lie in unchanged pixels.
* ``split_lines``: a recursive XY-cut of a region into single text lines (cuts at blank rows,
  then at wide blank column gaps), so each line can be scaled and normalised on its own.
"""

from __future__ import annotations

import numpy as np

from jobshadow.redact.model import Box

# A step of this much (0-255) between neighbouring pixels is an edge of a glyph. Light grey
# placeholder text on white still steps by ~80; codec noise and UI gradients stay under ~20.
EDGE = 40
# Video-decoded frames (x264, crf 28) wobble where nothing changed: a few pixels of a tile by up
# to ~50 levels around glyph edges, as the encoder refines a region over several frames. A glyph
# appearing or going changes many pixels of its tile by 100+ (xterm's thinnest, `l` or `.` in the
# 6x13 fixed font, changes 6-9). Changes below the bar are not lost: the stream compares with
# the pixels as they were last read, so they add up until read.
DIFF = 56
TILE_PIXELS = 6  # changed pixels (in a tile and its busiest neighbour) that make a tile changed
TILE_H, TILE_W = 8, 16
# Text lines are at most this tall (a 2x-scaled heading); taller solid ink is a picture.
MAX_LINE_H = 160
MIN_LINE_H = 5
# Straight ink runs at least this long are rules, not glyphs (a 40 px glyph stem is a 60 px font).
RULE_V, RULE_H = 40, 80


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma, uint8 (integer arithmetic: ~3x faster than float at 1080p)."""
    r = rgb[..., 0].astype(np.uint16)
    g = rgb[..., 1].astype(np.uint16)
    b = rgb[..., 2].astype(np.uint16)
    return ((r * 77 + g * 150 + b * 29) >> 8).astype(np.uint8)


def ink(gray: np.ndarray) -> np.ndarray:
    """Boolean mask of glyph edges: a pixel whose right or lower neighbour differs by > EDGE,
    without long straight rules (window borders, separators, table grids), which would join
    every line they cross into one."""
    g = gray.astype(np.int16)
    out = np.zeros(gray.shape, dtype=bool)
    out[:, :-1] |= np.abs(np.diff(g, axis=1)) > EDGE
    out[:-1, :] |= np.abs(np.diff(g, axis=0)) > EDGE
    # The step is between two pixels: mark both, so a glyph's last column counts as ink.
    out[:, 1:] |= out[:, :-1]
    out &= ~(_long_runs(out, RULE_V, 0) | _long_runs(out, RULE_H, 1))
    return out


def ink_near(gray: np.ndarray, boxes: list[Box]) -> np.ndarray:
    """``ink`` computed only in the rows a change can grow into (its box, and as far up and down
    as ``grow_to_lines`` may reach); zero elsewhere. A typed character costs a band, not a frame."""
    out = np.zeros(gray.shape, dtype=bool)
    reach = MAX_LINE_H + RULE_V
    bands = merge([Box(0, max(0, b.y - reach), 1, b.h + 2 * reach) for b in boxes])
    for band in bands:
        y0, y1 = band.y, min(gray.shape[0], band.bottom)
        out[y0:y1] = ink(gray[y0:y1])
    return out


def _long_runs(mask: np.ndarray, length: int, axis: int) -> np.ndarray:
    """Pixels of ``mask`` that lie in a straight run of at least ``length`` along ``axis``."""
    m = mask if axis == 1 else mask.T
    n = m.shape[1]
    if n < length:
        return np.zeros_like(mask)
    c = np.zeros((m.shape[0], n + 1), dtype=np.int16 if n < 32000 else np.int32)
    np.cumsum(m, axis=1, out=c[:, 1:])
    full = (c[:, length:] - c[:, :-length]) == length  # window [k, k+length) is all ink
    # A pixel i is covered when a full window starts in [i-length+1, i].
    f = np.zeros((m.shape[0], full.shape[1] + 1), dtype=c.dtype)
    np.cumsum(full, axis=1, out=f[:, 1:])
    last = full.shape[1]  # windows start at 0 .. last-1
    # Pixels 0..n-1: starts from max(0, i-length+1) to min(i, last-1).
    i = np.arange(n)
    hi = np.minimum(i, last - 1) + 1
    lo = np.maximum(i - length + 1, 0)
    covered: np.ndarray = (f[:, hi] - f[:, lo]) > 0
    return covered if axis == 1 else covered.T


def any_along(a: np.ndarray, axis: int) -> np.ndarray:
    """``a.any(axis)`` as an array (numpy's stubs type the reduction of a 2-D array as a scalar)."""
    return np.asarray(np.any(a, axis=axis))


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True in a 1-D boolean array."""
    if not flags.any():
        return []
    padded = np.concatenate(([False], flags, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def changed_mask(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Per-pixel: did the luma change by more than codec noise (DIFF)?"""
    d = np.abs(prev.astype(np.int16) - cur.astype(np.int16))
    m: np.ndarray = d.max(axis=2) > DIFF if d.ndim == 3 else d > DIFF
    return m


def changed_boxes(mask: np.ndarray) -> list[Box]:
    """Changed tiles joined into boxes (touching tiles become one box)."""
    h, w = mask.shape
    th, tw = -(-h // TILE_H), -(-w // TILE_W)
    padded = np.zeros((th * TILE_H, tw * TILE_W), dtype=bool)
    padded[:h, :w] = mask
    counts = padded.reshape(th, TILE_H, tw, TILE_W).sum(axis=(1, 3), dtype=np.int16)
    # A glyph can straddle two tiles: a tile counts with its busiest neighbour.
    near = np.zeros_like(counts)
    near[1:] = np.maximum(near[1:], counts[:-1])
    near[:-1] = np.maximum(near[:-1], counts[1:])
    near[:, 1:] = np.maximum(near[:, 1:], counts[:, :-1])
    near[:, :-1] = np.maximum(near[:, :-1], counts[:, 1:])
    tiles = np.asarray((counts > 0) & (counts + near >= TILE_PIXELS))
    boxes: list[Box] = []
    # Row bands of changed tiles, then column runs inside each band, then merge touching boxes.
    for r0, r1 in _runs(any_along(tiles, 1)):
        for c0, c1 in _runs(any_along(tiles[r0:r1], 0)):
            boxes.append(Box(c0 * TILE_W, r0 * TILE_H, (c1 - c0) * TILE_W, (r1 - r0) * TILE_H))
    return [clip(b, w, h) for b in merge(boxes)]


def clip(b: Box, width: int, height: int) -> Box:
    x, y = max(0, b.x), max(0, b.y)
    return Box(x, y, max(0, min(width, b.right) - x), max(0, min(height, b.bottom) - y))


def merge(boxes: list[Box], margin: int = 0) -> list[Box]:
    """Union boxes that overlap (or come within ``margin``) until none do."""
    out = list(boxes)
    changed = True
    while changed:
        changed = False
        merged: list[Box] = []
        for b in sorted(out, key=lambda b: (b.y, b.x)):
            for i, m in enumerate(merged):
                if m.intersects(b, margin):
                    merged[i] = m.union(b)
                    changed = True
                    break
            else:
                merged.append(b)
        out = merged
    return out


def grow_to_lines(box: Box, ink_mask: np.ndarray) -> Box:
    """Widen ``box`` to the text lines it touches: full line height, and sideways until a gap
    much wider than a word space (so a token and the keyword before it come along)."""
    height, width = ink_mask.shape
    rows = any_along(ink_mask[:, box.x:box.right], 1)
    y0, y1 = box.y, box.bottom
    # Up and down to the first blank row (bounded: a picture has no blank rows).
    while y0 > 0 and rows[y0 - 1] and box.bottom - y0 < MAX_LINE_H:
        y0 -= 1
    while y1 < height and rows[y1] and y1 - box.y < MAX_LINE_H:
        y1 += 1
    if y1 <= y0:
        return box
    line_h = max(8, min(MAX_LINE_H, y1 - y0))
    gap = max(48, 4 * min(line_h, 40))
    cols = np.flatnonzero(any_along(ink_mask[y0:y1], 0))
    x0, x1 = box.x, box.right
    if cols.size:
        # Walk outwards through ink columns while the gaps between them stay under ``gap``.
        left = cols[cols < x0][::-1]
        for c in left:
            if x0 - int(c) > gap:
                break
            x0 = int(c)
        right = cols[cols >= x1]
        for c in right:
            if int(c) - x1 > gap:
                break
            x1 = int(c) + 1
    return clip(Box(x0, y0, x1 - x0, y1 - y0), width, height)


def split_lines(region: Box, ink_mask: np.ndarray, *, max_depth: int = 8) -> list[Box]:
    """Cut ``region`` into boxes that each hold one line of text (recursive XY-cut).

    Rows with no ink separate lines; inside a line, a blank gap wider than ~1.5 line heights
    separates columns (table cells, a sidebar beside a chat), and each column is cut again
    because its lines need not align with its neighbour's. A piece too tall to be a line that
    cannot be cut is usually text inside a frame (a bordered card, a table): its long straight
    rules are taken out and it is cut again.
    """
    out: list[Box] = []
    stack: list[tuple[Box, int, np.ndarray, int, int]] = [(region, 0, ink_mask, 0, 0)]
    while stack:
        b, depth, mask, ox, oy = stack.pop()
        sub = mask[b.y - oy:b.bottom - oy, b.x - ox:b.right - ox]
        pieces = _cut(b, sub)
        if not pieces:
            continue
        if len(pieces) == 1 and (pieces[0] == b or depth >= max_depth):
            p = pieces[0]
            if p.h > MAX_LINE_H and depth < max_depth:
                cleaned = _without_rules(mask[p.y - oy:p.bottom - oy, p.x - ox:p.right - ox])
                if cleaned is not None:
                    stack.append((p, depth + 1, cleaned, p.x, p.y))
                continue
            if MIN_LINE_H <= p.h <= MAX_LINE_H and p.w >= 4:
                out.append(p)
            continue
        stack.extend((p, depth + 1, mask, ox, oy) for p in pieces)
    return sorted(out, key=lambda b: (b.y, b.x))


def _cut(b: Box, sub: np.ndarray) -> list[Box]:
    pieces: list[Box] = []
    for r0, r1 in _join_thin(_runs(any_along(sub, 1))):
        band_h = r1 - r0
        cols = _runs(any_along(sub[r0:r1], 0))
        line_h = min(band_h, MAX_LINE_H)
        # Lines of two columns that are not level (a list pane beside a mail header) chain into
        # one band with no blank row; its height is then several lines, and a column gap scaled
        # to it would never cut. The gap is scaled to the lines the band is made of.
        est = _line_height(sub[r0:r1], cols)
        if est and band_h > 1.6 * est:
            line_h = est
        gap = max(12, int(line_h * 1.5))
        start, end = cols[0]
        for c0, c1 in cols[1:]:
            if c0 - end >= gap:
                pieces.append(Box(b.x + start, b.y + r0, end - start, band_h))
                start = c0
            end = c1
        pieces.append(Box(b.x + start, b.y + r0, end - start, band_h))
    return pieces


def _line_height(band: np.ndarray, cols: list[tuple[int, int]], sample: int = 24) -> int:
    """The median height of the text lines in ``band``: pieces split at any 12 px blank gap, each
    cut at its blank rows (0 when it has none)."""
    chunks: list[tuple[int, int]] = []
    for c0, c1 in cols:
        if chunks and c0 - chunks[-1][1] < 12:
            chunks[-1] = (chunks[-1][0], c1)
        else:
            chunks.append((c0, c1))
    if len(chunks) < 2:
        return 0
    # The widest pieces: enough to measure, and a band of hundreds of words stays cheap.
    widest = sorted(chunks, key=lambda c: c[0] - c[1])[:sample]
    heights = [r1 - r0 for c0, c1 in widest for r0, r1 in _join_thin(_runs(any_along(band[:, c0:c1], 1)))
               if r1 - r0 >= MIN_LINE_H]
    return int(np.median(heights)) if heights else 0


def _without_rules(sub: np.ndarray) -> np.ndarray | None:
    """``sub`` without its long straight lines (rows or columns more than 60% ink), or None when
    it has none (then it is a picture, not framed text)."""
    rows = sub.mean(axis=1) > 0.6
    cols = sub.mean(axis=0) > 0.6
    if not rows.any() and not cols.any():
        return None
    cleaned = sub.copy()
    cleaned[rows, :] = False
    cleaned[:, cols] = False
    return cleaned


def _join_thin(bands: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Join a band of 1-2 rows to its neighbour across a one-row gap: an underscore, an i-dot or
    an accent separated from its line by a blank row belongs to that line."""
    out: list[tuple[int, int]] = []
    for r0, r1 in bands:
        if out and r0 - out[-1][1] <= 1 and (r1 - r0 <= 2 or out[-1][1] - out[-1][0] <= 2):
            out[-1] = (out[-1][0], r1)
        else:
            out.append((r0, r1))
    return out
