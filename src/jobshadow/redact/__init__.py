"""Server-side screen redaction: secrets and personal data filled in frames before they are curated.

Trust zone: server (between landing and curated). A terminal echoes what is typed, and programs
print secrets that never passed the key stream, so the device's typed-text redaction is not
enough: frames are read (OCR of the regions that changed), the shared detector and shape rules
find what must go, and those boxes are filled before the frame is written anywhere else.

    redactor = StreamRedactor()              # one per screen stream; frames in order
    result = redactor.redact(rgb)            # H x W x 3 uint8
    if result.failed: withhold the frame     # fail closed: result.image is None
    else: store result.image; result.findings -> [(kind, box)]

Modules: ``model`` (records), ``ocr`` (tesseract boundary), ``layout`` (diffs and text lines),
``reader`` (line OCR and its cache), ``confusions`` and ``shapes`` (OCR-robust detection),
``cells`` (wrapped values and table columns), ``detect`` (words to findings), ``paint``
(filling), ``stream`` (the per-stream state).
"""

from __future__ import annotations

from jobshadow.redact.model import Box, RedactionFailed, RedactionResult, ScreenFinding, Word
from jobshadow.redact.ocr import Ocr, TesseractOcr
from jobshadow.redact.stream import StreamRedactor, redact_image

__all__ = ["Box", "Ocr", "RedactionFailed", "RedactionResult", "ScreenFinding", "StreamRedactor", "TesseractOcr",
           "Word", "redact_image"]
