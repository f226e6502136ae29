"""Synthetic screens drawn with Pillow (Debian's DejaVu fonts) for the redaction unit tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


def font(mono: bool = True, size: int = 16) -> ImageFont.FreeTypeFont:
    path = FONT_DIR / ("DejaVuSansMono.ttf" if mono else "DejaVuSans.ttf")
    if not path.exists():
        pytest.fail("fonts-dejavu-core is required (make setup installs it)")
    return ImageFont.truetype(str(path), size)


def screen(lines: list[str], *, size: tuple[int, int] = (900, 300), dark: bool = False, mono: bool = True,
           px: int = 16, top: int = 10) -> np.ndarray:
    """``lines`` drawn one under another at a 1.5 line pitch."""
    bg, fg = ((30, 30, 30), (220, 220, 220)) if dark else ((255, 255, 255), (20, 20, 20))
    img = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(img)
    f = font(mono, px)
    for i, text in enumerate(lines):
        draw.text((12, top + i * int(px * 1.5)), text, fill=fg, font=f)
    return np.asarray(img).copy()


def line_box(i: int, px: int = 16, top: int = 10) -> tuple[int, int]:
    """Rows [y0, y1) of line ``i`` of ``screen``."""
    y = top + i * int(px * 1.5)
    return y, y + int(px * 1.3)


def canvas(items: list[tuple[int, int, str]], *, size: tuple[int, int] = (1200, 300), mono: bool = False,
           px: int = 16, dark: bool = False) -> np.ndarray:
    """Each ``(x, y, text)`` drawn at its place (table cells, panes side by side)."""
    bg, fg = ((30, 30, 30), (220, 220, 220)) if dark else ((255, 255, 255), (20, 20, 20))
    img = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(img)
    f = font(mono, px)
    for x, y, text in items:
        draw.text((x, y), text, fill=fg, font=f)
    return np.asarray(img).copy()
