"""The text under scan plus the shared views detectors need (shared: device and server).

Detectors get one ``ScanText``: the original string and, built lazily, views with the *same
indices*: an ASCII copy (what the regexes search), its lower-case twin (for keywords), a real
lower-case copy (for non-Latin keywords; ``str.lower`` keeps length for every code point but
U+0130, which is folded to ``I`` first), the shared run pass, and the spans earlier detectors
claimed. Every offset found in a view is valid in ``text``.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from jobshadow.sensitive._kinds import Finding

Detector = Callable[["ScanText"], Iterable[Finding]]

# Line lookups are bounded so a huge text without newlines (minified code, a pasted blob) costs
# linear time, not quadratic: past this many characters a "line" is cut where the search stopped.
MAX_LINE = 4096
_UNICODE_SPACES = ("\u00a0", "\u202f", "\u2009", "\u3000")


# One pass for the detectors that have no literal to anchor on: tokens of 15+ characters
# (standalone-secret candidates from 32, compact IBANs from 15) and runs of digits and
# separators (numeric PII), all starting right after a delimiter. The engine then skips through
# the text testing one character class; separate passes cost 1.6x.
_RUN_BODY = r"(?:([A-Za-z0-9_\-]{15,})|([0-9][0-9 \-.()]{6,}[0-9]))"
_RUNS = re.compile(r"[ \t\r\n\"'`(\[{,:=>;#$*\-]" + _RUN_BODY)
_RUNS_AT_START = re.compile(_RUN_BODY)


@dataclass(frozen=True, slots=True)
class Runs:
    """Spans from the shared pass: tokens of 32+ chars, digit runs, compact-IBAN starts."""

    longs: list[tuple[int, int]]
    digits: list[tuple[int, int]]
    iban_heads: list[int]


class ScanText:
    __slots__ = ("_ascii", "_ascii_lower", "_claims", "_lower", "_merged", "_runs", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._lower: str | None = None
        self._ascii: str | None = None
        self._ascii_lower: str | None = None
        self._claims: list[tuple[int, int]] = []
        self._merged: tuple[list[int], list[int]] | None = None
        self._runs: Runs | None = None

    @property
    def ascii(self) -> str:
        """``text`` with every non-ASCII character replaced by one ASCII character.

        Detectors search this view: every pattern is ASCII, and the regex engine scans a
        one-byte-per-character string several times faster than the four-byte one a single
        emoji turns a Python string into. Unicode spaces become " " (so NBSP still separates
        words), everything else "?". Values are judged on ``text``, never on this view.
        """
        if self._ascii is None:
            src = self.text
            if src.isascii():
                self._ascii = src
            else:
                for space in _UNICODE_SPACES:
                    if space in src:
                        src = src.replace(space, " ")
                self._ascii = src.encode("ascii", "replace").decode("ascii")
        return self._ascii

    @property
    def runs(self) -> Runs:
        """Long tokens, digit runs and compact-IBAN starts in the ASCII view, from one pass."""
        if self._runs is None:
            runs = Runs([], [], [])
            text = self.ascii
            head = _RUNS_AT_START.match(text)
            matches = _RUNS.finditer(text)
            for m in itertools.chain((head,) if head is not None else (), matches):
                s, e = m.span(1)
                if s < 0:
                    runs.digits.append(m.span(2))
                    continue
                if text[s:e].replace("-", "").isdigit():
                    runs.digits.append((s, e))  # "4111-1111-1111-1111" took the token branch
                    continue
                if e - s >= 32:
                    runs.longs.append((s, e))
                if e - s <= 34 and text[s : s + 2].isupper() and text[s + 2 : s + 4].isdigit():
                    runs.iban_heads.append(s)
            self._runs = runs
        return self._runs

    @property
    def ascii_lower(self) -> str:
        if self._ascii_lower is None:
            self._ascii_lower = self.ascii.lower()
        return self._ascii_lower

    def claim(self, findings: Iterable[Finding]) -> None:
        """Record spans already found by more specific detectors (see ``covered``)."""
        self._claims.extend((f.start, f.end) for f in findings)
        self._merged = None

    def covered(self, start: int, end: int) -> bool:
        """Whether ``[start, end)`` lies inside one claimed span.

        Lets the keyword and entropy detectors, which run last and are the costliest per
        candidate, skip values a vendor-prefix or block detector has already reported: those
        would lose the overlap anyway.
        """
        if not self._claims:
            return False
        if self._merged is None:
            starts: list[int] = []
            ends: list[int] = []
            for s, e in sorted(self._claims):
                if starts and s <= ends[-1]:
                    ends[-1] = max(ends[-1], e)
                else:
                    starts.append(s)
                    ends.append(e)
            self._merged = (starts, ends)
        starts, ends = self._merged
        i = bisect.bisect_right(starts, start) - 1
        return i >= 0 and ends[i] >= end

    @property
    def lower(self) -> str:
        if self._lower is None:
            src = self.text.replace("\u0130", "I") if "\u0130" in self.text else self.text
            self._lower = src.lower()
        return self._lower

    def before(self, i: int) -> str:
        """The character before ``i`` ("" at the start)."""
        return self.text[i - 1] if i > 0 else ""

    def at(self, i: int) -> str:
        """The character at ``i`` ("" past the end)."""
        return self.text[i] if i < len(self.text) else ""

    def line_start(self, i: int) -> int:
        """Start of the line holding ``i``, looking back at most ``MAX_LINE`` characters."""
        lo = max(0, i - MAX_LINE)
        nl = self.text.rfind("\n", lo, i)
        cr = self.text.rfind("\r", max(nl, lo), i)
        return max(nl, cr) + 1 if max(nl, cr) >= 0 else lo

    def line_end(self, i: int) -> int:
        """End of the line holding ``i`` (its newline), looking ahead at most ``MAX_LINE``."""
        hi = min(len(self.text), i + MAX_LINE)
        nl = self.text.find("\n", i, hi)
        cr = self.text.find("\r", i, nl if nl >= 0 else hi)
        if cr >= 0:
            return cr
        return nl if nl >= 0 else hi


ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
TOKEN_CHARS = ALNUM | frozenset("_-")
B64_CHARS = ALNUM | frozenset("+/=")


def word_set(text: str) -> frozenset[str]:
    """A vocabulary written as whitespace-separated words (keeps long word lists readable)."""
    return frozenset(text.split())
