"""Tables, panes and wrapped cells drawn with Pillow, read by the real tesseract: what a line-by-line
reading missed (a pane's line between two rows of another, a value wrapped in its cell, a column
named by its header or by its other values)."""

from __future__ import annotations

import numpy as np
import pytest

from jobshadow.redact import TesseractOcr, layout, redact_image
from jobshadow.redact.model import Box
from tests.redact._screens import canvas, font


@pytest.fixture(scope="module")
def ocr() -> TesseractOcr:
    return TesseractOcr()


def filled(image: np.ndarray, x: int, y: int, text: str, px: int = 16, mono: bool = False) -> float:
    """Share of the ink-bearing rows and columns of ``text`` drawn at (x, y) that are filled black."""
    w = int(font(mono, px).getlength(text))
    crop = image[y + 2:y + px - 2, x + 1:x + w - 1]
    return float((crop.max(axis=2) == 0).mean())


def test_a_pane_line_between_two_rows_of_another_pane_is_read_on_its_own(ocr: TesseractOcr) -> None:
    # A mail list on the left (rows every 30 px) and the reading pane's header line level with
    # neither row: the three chain into one band with no blank row between them.
    # The gap between the panes (50 px) is well over a line's height but under the band's.
    left = ["Billy Vargas   Cut suddenly girl   28.10.2023", "James Jennings   Happy practice   15.08.2023"]
    pane = 10 + max(int(font(False, 15).getlength(t)) for t in left) + 50
    items = [(10, 10, left[0]), (10, 40, left[1]), (pane, 25, "From: grace_martin@example.com")]
    image = canvas(items, size=(900, 70), px=15)
    gray = layout.luma(image)
    lines = layout.split_lines(Box(0, 0, 900, 70), layout.ink(gray))
    assert all(b.h < 30 for b in lines)  # no box holds two lines
    assert any(b.x >= pane - 2 for b in lines)  # the pane's line is a box of its own
    result = redact_image(image, ocr)
    assert result.image is not None
    assert filled(result.image, pane + int(font(False, 15).getlength("From: ")), 25,
                  "grace_martin@example.com", px=15) > 0.9
    assert filled(result.image, 10, 10, "Billy Vargas", px=15) == 0.0


def test_an_address_wrapped_in_its_cell_is_filled_on_both_lines(ocr: TesseractOcr) -> None:
    # The next column starts right after the first line: the rest of the address did not fit.
    nxt = 330 + int(font(False, 16).getlength("peggy+worker@stark-")) + 24
    items = [(10, 22, "10"), (60, 22, "William Le"), (230, 22, "Year"),
             (330, 10, "peggy+worker@stark-"), (330, 32, "industries.de"),
             (nxt, 22, "(201) 762-6479"), (nxt + 200, 22, "03/03/2025")]
    result = redact_image(canvas(items, size=(1000, 70)), ocr)
    assert result.image is not None
    assert filled(result.image, 330, 10, "peggy+worker@stark-") > 0.9
    assert filled(result.image, 330, 32, "industries.de") > 0.9
    assert filled(result.image, 60, 22, "William Le") == 0.0
    assert filled(result.image, nxt + 200, 22, "03/03/2025") == 0.0


def test_a_column_under_a_password_header_is_filled(ocr: TesseractOcr) -> None:
    items = [(10, 10, "Service"), (240, 10, "Account"), (460, 10, "Password")]
    rows = [("billing-prod", "svc_billing", "marigold4471"), ("search-dev", "jdoe", "lunar tiger velvet")]
    for i, (a, b, c) in enumerate(rows):
        items += [(10, 40 + 30 * i, a), (240, 40 + 30 * i, b), (460, 40 + 30 * i, c)]
    result = redact_image(canvas(items, size=(800, 110)), ocr)
    assert result.image is not None
    assert filled(result.image, 460, 40, "marigold4471") > 0.9
    assert filled(result.image, 460, 70, "lunar tiger velvet") > 0.9
    for x, y, text in items:
        if x < 460 or y == 10:
            assert filled(result.image, x, y, text) == 0.0, text


def test_a_lone_password_in_a_column_of_keys_is_filled(ocr: TesseractOcr) -> None:
    values = ["AKIA25ECNYUFVBZVNKMY", "glpat-Wnc4HcuUgPl4W5235R5K", "rKA9Q~Fo~JT2TfjkBnGKaVCQHcgbyhBlivnxXt1L",
              "shadow7417"]
    items = [(10, 10, "API keys and credentials")]
    for i, v in enumerate(values):
        items += [(10, 50 + 34 * i, f"label {i}"), (160, 50 + 34 * i, v)]
    result = redact_image(canvas(items, size=(900, 200), mono=True), ocr)
    assert result.image is not None
    assert filled(result.image, 160, 50 + 34 * 3, "shadow7417", mono=True) > 0.9
    assert filled(result.image, 10, 50 + 34 * 3, "label 3", mono=True) == 0.0
