"""Detect and redact secrets and personal data in free text (shared: device and server).

Used on the device on keystroke text before anything reaches disk, by ``jobshadow redact text``,
and on the server over OCR'd screen text. Pure Python, no network, no models: candidates come
from literal-led regular expressions and from class views of the text searched with
``str.find`` (a few passes in all), and validators (checksums, shapes, entropy, keyword
context) decide. ``KINDS`` lists what can be reported; ``KIND_DOCS`` defines each kind.

    >>> redact("sudo apt update\\nhunter2\\n")[0]
    'sudo apt update\\n[REDACTED:password]\\n'

Typed text as the device's guard builds it: Return is ``\\n``, Tab ``\\t``, a click that moved
the caret between fields of one window is ``\\x1f`` (U+001F), and text redacted earlier is a run
of ``█``. A short value typed after a user-name, e-mail or ``█`` field and Tab or ``\\x1f``, and
ended by ``\\n``, ``\\t``, ``\\x1f`` or the end of the text, is a ``password`` (``_forms``).

``partial(text)`` is for the word still being typed when the device's hold runs out: it returns
a finding over the trailing span that could be the start of a secret or PII (a vendor prefix,
digit groups in progress, an e-mail address in progress, a value after a password key, prompt or
form field, a random fragment), or None for an ordinary word (``_partial``).
"""

from __future__ import annotations

from jobshadow.sensitive._engine import DetectorFailed, redact, scan
from jobshadow.sensitive._kinds import KIND_DOCS, KINDS, Finding
from jobshadow.sensitive._partial import partial

__all__ = ["KINDS", "KIND_DOCS", "DetectorFailed", "Finding", "partial", "redact", "scan"]
