"""What the stream has read, so that a scroll is not read again.

Scrolling changes every pixel of a pane, but most of its lines are still there, a few rows up or
down. ``LineMemory`` keeps the words read on screen (frame coordinates, matching the stream's
reference image). For a changed pane, ``match`` estimates its vertical shift (``scroll_shift``),
and for each of its line boxes compares the pixels with the reference at that shift:
where they agree within video-codec noise, the words read there before are moved down or up
instead of being read again. Lines that do not agree (newly exposed, edited) are read afresh.

Codec noise after a scroll leaves ~0.1-0.2% of a line's pixels off by more than 56 levels; two
different lines of text (``0041 …`` vs ``0042 …``) differ on 0.6% or more, so the threshold sits
between. A line edited by a single thin character *while* it scrolls may keep its old reading;
everything that reading held was already examined.
"""

from __future__ import annotations

import numpy as np

from jobshadow.redact.model import Box, Word

STRONG = 56  # a pixel differing by more than this is not codec noise
MAX_SHARE = 0.003  # share of strong differences a moved line may have
CANDIDATES = 8  # shifts tried pixel by pixel
SAMPLE = 8  # lines they are tried on
MAX_WORDS = 20000


class LineMemory:
    """The words on screen as last read. One per stream; updated only after a frame succeeds."""

    def __init__(self) -> None:
        self.words: list[Word] = []

    def clear(self) -> None:
        self.words = []

    def match(self, ref: np.ndarray, gray: np.ndarray, region: Box, lines: list[Box]) -> dict[int, list[Word]]:
        """Words for the line boxes (by index) that are lines of ``ref`` moved by the region's scroll."""
        if not self.words:
            return {}
        dy = scroll_shift(ref, gray, region, lines)
        if not dy:
            return {}
        out: dict[int, list[Word]] = {}
        for i, line in enumerate(lines):
            if _share(gray, ref, line, dy) > MAX_SHARE:
                continue
            src = line.shifted(0, dy)
            out[i] = [Word(w.text, w.box.shifted(0, -dy), w.conf) for w in self.words
                      if src.x <= w.box.x + w.box.w / 2 < src.right and src.y <= w.box.y + w.box.h / 2 < src.bottom]
        return out

    def commit(self, regions: list[Box], words: list[Word]) -> None:
        """After a frame succeeded: words in ``regions`` are replaced by ``words``."""
        kept = [w for w in self.words if not any(w.box.intersects(r) for r in regions)]
        self.words = (kept + words)[-MAX_WORDS:]


def panes(regions: list[Box]) -> list[tuple[Box, list[Box]]]:
    """Regions grouped by column (x ranges overlapping by half the narrower): a scrolled pane
    changes in bands separated by unchanged blank rows, and its shift is estimated over all of
    them at once (a small band of look-alike lines fits several shifts)."""
    groups: list[tuple[Box, list[Box]]] = []
    for r in sorted(regions, key=lambda b: (b.x, b.y)):
        for i, (pane, members) in enumerate(groups):
            overlap = min(pane.right, r.right) - max(pane.x, r.x)
            if overlap >= 0.5 * min(pane.w, r.w):
                groups[i] = (pane.union(r), [*members, r])
                break
        else:
            groups.append((r, [r]))
    return groups


def scroll_shift(ref: np.ndarray, gray: np.ndarray, region: Box, lines: list[Box]) -> int:
    """The vertical shift ``dy`` (rows) with ``gray[y] ≈ ref[y + dy]`` for the lines of a pane, or
    0 when none fits (the content changed rather than moved).

    Candidate shifts are the best local minima of the difference of row profiles (cheap, but a
    toolbar that does not scroll and look-alike lines make its minimum unreliable); each is then
    tried on a sample of the pane's lines pixel by pixel.
    """
    h = region.h
    if h < 24 or not lines:
        return 0
    cols = slice(region.x, region.right)
    cur = gray[region.y:region.bottom, cols].mean(axis=1, dtype=np.float32)
    old = ref[:, cols].mean(axis=1, dtype=np.float32)
    scores: dict[int, float] = {}
    for dy in range(-(h // 2), h // 2 + 1):
        lo, hi = max(0, -(region.y + dy)), min(h, old.shape[0] - (region.y + dy))
        if dy and hi - lo >= h // 2:
            scores[dy] = float(np.abs(cur[lo:hi] - old[region.y + dy + lo:region.y + dy + hi]).mean())
    minima = [dy for dy, v in scores.items()
              if v <= scores.get(dy - 1, np.inf) and v <= scores.get(dy + 1, np.inf)]
    candidates = sorted(minima, key=scores.__getitem__)[:CANDIDATES]
    step = max(1, len(lines) // SAMPLE)
    sample = lines[::step][:SAMPLE]
    best, best_dy = MAX_SHARE, 0
    for dy in candidates:
        shares = [_share(gray, ref, line, dy) for line in sample]
        share = float(np.median(shares))
        if share <= best:
            best, best_dy = share, dy
    return best_dy


def _share(gray: np.ndarray, ref: np.ndarray, line: Box, dy: int) -> float:
    """Share of ``line``'s pixels that differ from ``ref`` shifted by ``dy`` by more than noise."""
    src = line.shifted(0, dy)
    if src.y < 0 or src.bottom > ref.shape[0]:
        return 1.0
    now = gray[line.y:line.bottom, line.x:line.right].astype(np.int16)
    before = ref[src.y:src.bottom, src.x:src.right].astype(np.int16)
    return float((np.abs(now - before) > STRONG).mean())
