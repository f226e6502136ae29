"""Read text back from stored images, the way someone looking for leaked secrets would.

Canary tests use it to search every pixel of stored frames and dataset images: tesseract (through
tesserocr, with Debian's language data), upscaled 2x because small terminal fonts are not read
at 1x. Matching is loose on purpose (OCR confuses O/0, l/1/I…): a needle counts as read when
its confusion-folded form appears in the folded text, or any 8-character run of it does.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

TESSDATA = "/usr/share/tesseract-ocr/5/tessdata/"
_FOLD = str.maketrans({"0": "o", "O": "o", "1": "l", "I": "l", "i": "l", "|": "l", "5": "s", "S": "s",
                       "8": "b", "B": "b", "2": "z", "Z": "z", "6": "g", "G": "g"})
_local = threading.local()


def _api() -> Any:
    api = getattr(_local, "api", None)
    if api is None:
        import tesserocr

        api = _local.api = tesserocr.PyTessBaseAPI(path=TESSDATA, psm=tesserocr.PSM.SPARSE_TEXT)
    return api


def fold(text: str) -> str:
    return re.sub(r"\s+", "", text.translate(_FOLD).lower())


def read(image: Any, box: tuple[int, int, int, int] | None = None, scale: int = 2) -> str:
    """Text tesseract reads in ``image`` (a path, PIL image or RGB array), optionally a crop."""
    from PIL import Image

    if isinstance(image, str | Path):
        im = Image.open(image).convert("RGB")
    elif isinstance(image, Image.Image):
        im = image.convert("RGB")
    else:
        im = Image.fromarray(image).convert("RGB")
    if box is not None:
        im = im.crop(box)
    if scale != 1:
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.LANCZOS)
    api = _api()
    api.SetImage(im)
    return str(api.GetUTF8Text())


@functools.cache
def _pieces(needle: str) -> tuple[str, ...]:
    f = fold(needle)
    if len(f) <= 8:
        return (f,)
    return (f, *(f[i : i + 8] for i in range(len(f) - 7)))


def leaked(text: str, needles: Iterable[str]) -> list[str]:
    """The needles (or an 8-character run of one) readable in ``text``."""
    folded = fold(text)
    return [n for n in needles if any(p in folded for p in _pieces(n))]
