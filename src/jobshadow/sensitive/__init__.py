"""Detect and redact secrets and personal data in free text (shared: device and server).

Used on the device on keystroke text before anything reaches disk, by ``jobshadow redact text``,
and on the server over OCR'd screen text. Pure Python, no network, no models: precompiled
regular expressions find candidates (most anchored on a literal so a pass costs little), and
validators (checksums, numbering plans, entropy, keyword context) decide. ``KINDS`` lists what
can be reported; ``KIND_DOCS`` defines each kind.

    >>> redact("sudo apt update\\nhunter2\\n")[0]
    'sudo apt update\\n[REDACTED:password]\\n'
"""

from __future__ import annotations

from jobshadow.sensitive._engine import DetectorFailed, redact, scan
from jobshadow.sensitive._kinds import KIND_DOCS, KINDS, Finding
from jobshadow.sensitive._partial import partial

__all__ = ["KINDS", "KIND_DOCS", "DetectorFailed", "Finding", "partial", "redact", "scan"]
