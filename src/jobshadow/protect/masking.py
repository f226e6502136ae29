"""Fill every pixel outside the capture scope before a frame reaches the encoder (device zone).

The kept area is computed from window geometry and stacking, conservatively:

* from a snapshot, the *visible in-scope region* is built bottom to top — each window first
  removes what it covers, then adds itself back if it is in scope — so an excluded window on
  top of an allowed one cuts a hole in it, and an allowed window on top of an excluded one shows;
* a grab taken between two window-model syncs keeps only pixels kept by **both** snapshots;
* every position any out-of-scope window held between the two syncs (the model's trail) is
  removed as well, so a window moving or appearing during the grab cannot leak.

Everything else — desktop, unknown popups, excluded and out-of-scope windows — is filled with a
solid colour in place; the original pixels are never copied anywhere.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from jobshadow.records import Rect

# Fill byte for every channel: dark grey, visibly "masked" and not mistakable for a black
# screen. One value for all four bytes lets a plain memset do the fill (the encoder ignores
# the alpha byte).
FILL_BYTE = 48

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)


def _box(r: Rect) -> Box:
    return (r.x, r.y, r.x + r.width, r.y + r.height)


def _subtract(a: Box, b: Box) -> list[Box]:
    ax0, ay0, ax1, ay1 = a
    bx0, by0, bx1, by1 = b
    if bx0 >= ax1 or bx1 <= ax0 or by0 >= ay1 or by1 <= ay0:
        return [a]
    out: list[Box] = []
    if by0 > ay0:
        out.append((ax0, ay0, ax1, by0))
    if by1 < ay1:
        out.append((ax0, by1, ax1, ay1))
    mid0, mid1 = max(ay0, by0), min(ay1, by1)
    if bx0 > ax0:
        out.append((ax0, mid0, bx0, mid1))
    if bx1 < ax1:
        out.append((bx1, mid0, ax1, mid1))
    return out


def _intersect(a: Box, b: Box) -> Box | None:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


@dataclass(frozen=True)
class Region:
    """A set of pixels as disjoint boxes."""

    boxes: tuple[Box, ...] = ()

    def minus(self, b: Box) -> Region:
        out: list[Box] = []
        for a in self.boxes:
            out.extend(_subtract(a, b))
        return Region(tuple(out))

    def plus(self, b: Box) -> Region:
        return Region((*self.minus(b).boxes, b))

    def intersect(self, other: Region) -> Region:
        out = []
        for a in self.boxes:
            for b in other.boxes:
                c = _intersect(a, b)
                if c is not None:
                    out.append(c)
        return Region(tuple(out))

    def clip(self, bounds: Box) -> Region:
        return self.intersect(Region((bounds,)))

    @property
    def area(self) -> int:
        return sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in self.boxes)


@dataclass(frozen=True)
class Layer:
    """A visible window for masking purposes: where it is and whether it may be shown."""

    outer: Rect
    in_scope: bool


def visible_in_scope(layers: Iterable[Layer], screen: Rect) -> Region:
    """The pixels that show an in-scope window, given layers bottom to top."""
    region = Region()
    for layer in layers:
        b = _box(layer.outer)
        region = region.plus(b) if layer.in_scope else region.minus(b)
    return region.clip(_box(screen))


def keep_region(
    before: list[Layer], after: list[Layer], trail: Iterable[Layer], screen: Rect
) -> Region:
    keep = visible_in_scope(before, screen).intersect(visible_in_scope(after, screen))
    for layer in trail:
        if not layer.in_scope:
            keep = keep.minus(_box(layer.outer))
    return keep


def apply_mask(image: Any, width: int, height: int, keep: Region) -> int:
    """Fill everything outside ``keep`` in place; return the number of filled pixels.

    ``image`` is any writable buffer of BGRA rows (a video frame plane, a bytearray).
    """
    size = memoryview(image).nbytes
    if size < width * height * 4:
        raise ValueError("image is smaller than width x height BGRA")
    masked = Region(((0, 0, width, height),))
    for b in keep.boxes:
        masked = masked.minus(b)
    _fill(image, size, width, height, masked.boxes)
    return masked.area


def fill_boxes(image: Any, width: int, height: int, boxes: Iterable[Box]) -> int:
    """Fill ``boxes`` (clipped to the image) in place; return the number of pixels filled.

    Overlapping boxes are merged first, so every pixel is counted once.
    """
    size = memoryview(image).nbytes
    if size < width * height * 4:
        raise ValueError("image is smaller than width x height BGRA")
    region = Region()
    for b in boxes:
        c = _intersect(b, (0, 0, width, height))
        if c is not None:
            region = region.plus(c)
    _fill(image, size, width, height, region.boxes)
    return region.area


def _fill(image: Any, size: int, width: int, height: int, boxes: Iterable[Box]) -> None:
    base = ctypes.addressof((ctypes.c_char * size).from_buffer(image))
    stride = width * 4
    for x0, y0, x1, y1 in boxes:
        x0, x1 = max(0, x0), min(width, x1)
        y0, y1 = max(0, y0), min(height, y1)
        if x0 >= x1 or y0 >= y1:
            continue
        if x0 == 0 and x1 == width:  # whole rows are contiguous: one call
            ctypes.memset(base + y0 * stride, FILL_BYTE, (y1 - y0) * stride)
            continue
        n = (x1 - x0) * 4
        for y in range(y0, y1):
            ctypes.memset(base + y * stride + x0 * 4, FILL_BYTE, n)


def layers_from(entries: Iterable[object], in_scope: Callable[[object], bool]) -> list[Layer]:
    """Adapt window-model entries (anything with ``outer``) into layers."""
    return [Layer(e.outer, in_scope(e)) for e in entries]  # type: ignore[attr-defined]
