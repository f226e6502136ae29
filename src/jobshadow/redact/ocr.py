"""The OCR engine boundary: recognise words with boxes in a prepared greyscale image.

``Ocr`` is the one method the redactor needs; ``TesseractOcr`` implements it over tesserocr,
which calls tesseract 5 in-process (no subprocess per frame). Tesseract's API object is not
thread-safe and costs ~50 ms to create, so each thread gets its own, created on first use and
reused for every later call on that thread.

Images given to ``read`` are already prepared by ``jobshadow.redact.reader``: dark text on a light
background, scaled so a text line is ~30 px tall, lines stacked one under another. That is why
the page-segmentation mode is "a uniform block of text": tesseract's layout analysis of whole
screens is the slow and unreliable part, and the stacking already did its job.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from jobshadow.redact.model import Box, RedactionFailed, Word

if TYPE_CHECKING:
    import numpy as np
    from tesserocr import PyTessBaseAPI  # type: ignore[import-untyped]

TESSDATA_ENV = "JOBSHADOW_TESSDATA"
# Debian's tesseract-ocr-eng (the tesserocr wheel bundles the engine but no language data).
TESSDATA_DIRS = ("/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata",
                 "/usr/share/tessdata", "/usr/local/share/tessdata")


class Ocr(Protocol):
    def read(self, gray: np.ndarray, *, deadline: float) -> list[Word]:
        """Words in ``gray`` (2-D uint8, C-contiguous), boxes in its pixels.

        Called on the redacting thread; blocks while it recognises. ``deadline`` is a
        ``time.monotonic()`` value: past it, raise ``RedactionFailed`` rather than return a
        partial answer. Any other failure also raises ``RedactionFailed``.
        """
        ...


def find_tessdata(lang: str = "eng") -> Path:
    """The directory holding ``<lang>.traineddata``: ``$JOBSHADOW_TESSDATA`` or Debian's."""
    env = os.environ.get(TESSDATA_ENV)
    candidates = [env] if env else list(TESSDATA_DIRS)
    for d in candidates:
        if d and (Path(d) / f"{lang}.traineddata").is_file():
            return Path(d)
    where = env or ", ".join(TESSDATA_DIRS)
    raise RedactionFailed(f"no tesseract language data {lang}.traineddata in {where} "
                          "(install tesseract-ocr-eng or set JOBSHADOW_TESSDATA)")


class TesseractOcr:
    """Tesseract's LSTM engine, one API object per thread, reused."""

    def __init__(self, lang: str = "eng", tessdata: Path | None = None) -> None:
        self.lang = lang
        self.tessdata = tessdata or find_tessdata(lang)
        self._local = threading.local()

    def _api(self) -> PyTessBaseAPI:
        api: PyTessBaseAPI | None = getattr(self._local, "api", None)
        if api is None:
            from tesserocr import OEM, PSM, PyTessBaseAPI

            api = PyTessBaseAPI(path=str(self.tessdata) + os.sep, lang=self.lang, psm=PSM.SINGLE_BLOCK,
                                oem=OEM.LSTM_ONLY)
            # The reader inverts light-on-dark lines itself; tesseract's own retry of inverted
            # text recognises every low-confidence word twice.
            api.SetVariable("tessedit_do_invert", "0")
            # Screens are full of identifiers, keys and numbers: the dictionary's pull towards
            # English words turns `AKIA…` into nonsense more often than it helps.
            api.SetVariable("load_system_dawg", "0")
            api.SetVariable("load_freq_dawg", "0")
            self._local.api = api
        return api

    def read(self, gray: np.ndarray, *, deadline: float) -> list[Word]:
        from tesserocr import RIL, iterate_level

        if gray.ndim != 2 or gray.dtype.name != "uint8":
            raise RedactionFailed("OCR input must be a 2-D uint8 image")
        remaining_ms = int((deadline - time.monotonic()) * 1000)
        if remaining_ms <= 0:
            raise RedactionFailed("redaction timed out before OCR")
        api = self._api()
        h, w = gray.shape
        try:
            api.SetImageBytes(gray.tobytes(), w, h, 1, w)
            ok = api.Recognize(timeout=remaining_ms)
        except Exception as exc:  # the binding raises plain RuntimeError on engine failures
            raise RedactionFailed(f"OCR failed: {type(exc).__name__}") from None
        if not ok:
            raise RedactionFailed("OCR timed out" if time.monotonic() >= deadline else "OCR failed")
        words: list[Word] = []
        it = api.GetIterator()
        if it is None:
            return words
        for r in iterate_level(it, RIL.WORD):
            try:
                text = r.GetUTF8Text(RIL.WORD)
            except RuntimeError:  # "No text returned": a box tesseract found but read as nothing
                continue
            bb = r.BoundingBox(RIL.WORD)
            if not text or bb is None:
                continue
            x0, y0, x1, y1 = bb
            words.append(Word(text.strip(), Box(x0, y0, x1 - x0, y1 - y0), float(r.Confidence(RIL.WORD))))
        return words
