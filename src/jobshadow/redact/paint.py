"""Filling findings: a solid box, a little larger than the words, over a copy of the frame."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from jobshadow.redact.model import Box

FILL = (0, 0, 0)
# Word boxes hug the glyphs' ink; anti-aliased fringes and descenders reach a pixel or two past.
PAD = 3


def pad_for(box: Box, pad: int = PAD) -> int:
    return max(pad, box.h // 6)


def fill(frame: np.ndarray, boxes: Iterable[Box], colour: tuple[int, int, int] = FILL, pad: int = PAD) -> np.ndarray:
    """A copy of ``frame`` (H x W x 3 uint8) with every box filled, padded and clipped."""
    out = np.array(frame[..., :3], dtype=np.uint8, copy=True, order="C")
    height, width = out.shape[:2]
    for b in boxes:
        p = b.padded(pad_for(b, pad), width, height)
        if p.w > 0 and p.h > 0:
            out[p.y:p.bottom, p.x:p.right] = colour
    return out
