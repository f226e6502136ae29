"""Masking: stacking-aware keep regions, conservative across two snapshots, pixel-exact fills."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from jobshadow.protect.masking import FILL_BYTE, Layer, Region, apply_mask, keep_region, visible_in_scope
from jobshadow.records import Rect

SCREEN = Rect(0, 0, 100, 80)


def px(image: bytearray, x: int, y: int, width: int = 100) -> bytes:
    i = (y * width + x) * 4
    return bytes(image[i : i + 4])


def test_excluded_window_on_top_of_allowed_cuts_a_hole() -> None:
    allowed, excluded = Layer(Rect(0, 0, 60, 60), True), Layer(Rect(20, 20, 20, 20), False)
    keep = visible_in_scope([allowed, excluded], SCREEN)
    assert keep.area == 60 * 60 - 20 * 20


def test_allowed_window_on_top_of_excluded_shows() -> None:
    keep = visible_in_scope([Layer(Rect(0, 0, 60, 60), False), Layer(Rect(10, 10, 20, 20), True)], SCREEN)
    assert keep.area == 400


def test_only_pixels_kept_by_both_snapshots_survive_and_the_trail_is_removed() -> None:
    before = [Layer(Rect(0, 0, 50, 80), True)]
    after = [Layer(Rect(10, 0, 50, 80), True)]  # the allowed window moved right by 10
    trail = [Layer(Rect(30, 30, 10, 10), False)]  # an excluded popup flashed there in between
    keep = keep_region(before, after, trail, SCREEN)
    assert keep.area == 40 * 80 - 100


def test_fill_is_exact_to_the_pixel() -> None:
    image = bytearray(b"\x11\x22\x33\xff" * 100 * 80)
    keep = Region(((10, 10, 30, 20),))
    filled = apply_mask(image, 100, 80, keep)
    assert filled == 100 * 80 - 20 * 10
    assert px(image, 10, 10) == b"\x11\x22\x33\xff" and px(image, 29, 19) == b"\x11\x22\x33\xff"
    for x, y in [(9, 10), (30, 10), (10, 9), (10, 20), (0, 0), (99, 79)]:
        assert px(image, x, y) == bytes([FILL_BYTE] * 4)


@given(st.lists(st.tuples(st.integers(-20, 110), st.integers(-20, 90), st.integers(1, 60), st.integers(1, 60),
                          st.booleans()), max_size=6))
@settings(max_examples=200)
def test_no_excluded_pixel_survives(layers: list[tuple[int, int, int, int, bool]]) -> None:
    """Every pixel whose topmost window is out of scope (or that has no window) is filled."""
    ls = [Layer(Rect(x, y, w, h), ok) for x, y, w, h, ok in layers]
    image = bytearray(b"\x01\x02\x03\x04" * 100 * 80)
    apply_mask(image, 100, 80, keep_region(ls, ls, [], SCREEN))
    for y in range(0, 80, 3):
        for x in range(0, 100, 3):
            top = None
            for layer in ls:
                if layer.outer.contains(x, y):
                    top = layer
            shown = px(image, x, y) == b"\x01\x02\x03\x04"
            assert shown == (top is not None and top.in_scope), (x, y)
