"""OCR confusions: rewrite a recognised token the way it was most likely drawn.

Tesseract reads `0` as `O`, `1` as `l` or `I`, `5` as `S`, `8` as `B`, `7` as `?`, `.` as `,`
and `@` as `©` often enough that a checksum (Luhn, mod 97) or a vendor pattern fails on text that
is plainly a card number or a key on screen. A secret misread is still a secret on screen, so the
detector also runs over these rewrites.

Every rewrite maps one character to one character, so offsets into a rewritten line are offsets
into the recognised line: a finding in a rewrite lands on the same words.

* ``punctuation``: `,` between two letters or digits becomes `.`, `©`/`®` become `@` and dashes `-`
  (``jane,doe@example,com``).
* ``by_class``: a token that is mostly digits has its letter look-alikes turned into digits
  (``4111 l1I1 1111 1lll``); a token that is mostly letters has its digit look-alikes turned into
  letters (``passw0rd:`` → ``password:``). Characters that are ambiguous do not vote.
"""

from __future__ import annotations

import re

_TO_DIGIT = str.maketrans({
    "O": "0", "o": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "l": "1", "i": "1", "|": "1", "!": "1",
    "j": "1", "Z": "2", "z": "2", "S": "5", "s": "5", "$": "5", "B": "8", "G": "6", "b": "6", "q": "9",
    "g": "9", "?": "7", "T": "7", "A": "4",
})  # fmt: skip
_TO_LOWER_LETTER = str.maketrans({"0": "o", "1": "l", "5": "s", "8": "B", "$": "s", "|": "l", "!": "l", "€": "e"})
_TO_UPPER_LETTER = str.maketrans({"0": "O", "1": "I", "5": "S", "8": "B", "$": "S", "|": "I", "!": "I", "€": "E"})
_AMBIGUOUS = frozenset("OoQDUIlij|!ZzSsB$GbqgTA?0158")
_COMMA = re.compile(r"(?<=[A-Za-z0-9]),(?=[A-Za-z0-9])")
_AT = str.maketrans({"©": "@", "®": "@", "\u2014": "-", "\u2013": "-"})  # em and en dash
_TOKEN = re.compile(r"\S+")


def punctuation(token: str) -> str:
    return _COMMA.sub(".", token.translate(_AT))


def by_class(token: str) -> str:
    """``token`` with look-alikes turned towards the class most of its clear characters have."""
    digits = letters = upper = lower = 0
    for ch in token:
        if ch in _AMBIGUOUS:
            continue
        if ch.isdigit():
            digits += 1
        elif ch.isalpha():
            letters += 1
            upper += ch.isupper()
            lower += ch.islower()
    if digits > letters or (digits == letters == 0 and any(ch.isdigit() for ch in token)):
        # All look-alikes (`l1I1`) but with a digit among them: a group of a number.
        return token.translate(_TO_DIGIT)
    if letters > digits:
        return token.translate(_TO_UPPER_LETTER if upper > lower else _TO_LOWER_LETTER)
    return token


def text_variants(text: str) -> list[str]:
    """``text``, then each distinct rewrite of it (same length, so offsets carry over)."""
    out = [text]
    fixed = punctuation(text)
    for candidate in (fixed, _TOKEN.sub(lambda m: by_class(m.group()), fixed)):
        if candidate not in out:
            out.append(candidate)
    return out
