"""The text under scan plus the shared views detectors need (shared: device and server).

Detectors get one ``ScanText``: the original string and, built lazily, views with the *same
indices*: an ASCII copy (what the regexes search), its lower-case twin (for keywords), class
views (digits, token characters) with the runs found in them, the command-line flags, and the
spans earlier detectors claimed. Every offset found in a view is valid in ``text``. Non-Latin
keywords are searched in real lower-case copies of the few lines that may hold them
(``lower_lines``; ``str.lower`` keeps length for every code point but U+0130, which is folded to
``I`` first).
"""

from __future__ import annotations

import bisect
import codecs
import re
from collections.abc import Callable, Iterable

from jobshadow.sensitive._kinds import Finding

Detector = Callable[["ScanText"], Iterable[Finding]]

# Line lookups are bounded so a huge text without newlines (minified code, a pasted blob) costs
# linear time, not quadratic: past this many characters a "line" is cut where the search stopped.
MAX_LINE = 4096
_UNICODE_SPACES = frozenset("\u00a0\u202f\u2009\u3000")
_ASCII_ERRORS = "jobshadow.sensitive.ascii"


def _to_ascii(err: UnicodeError) -> tuple[str, int]:
    """One ASCII character per non-ASCII one: Unicode spaces become " ", the rest "?". Called
    once per run of non-ASCII characters, so the view costs one C-level encode."""
    assert isinstance(err, UnicodeEncodeError)
    run = err.object[err.start : err.end]
    return "".join(" " if ch in _UNICODE_SPACES else "?" for ch in run), err.end


codecs.register_error(_ASCII_ERRORS, _to_ascii)


# Detectors with no literal to anchor on (standalone tokens, numeric PII) find their candidates
# in *class views*: the ASCII view translated so that each character becomes its class. A
# translation is one C-level pass, and on a class view ``str.find`` (which skips ahead) or a
# literal-led regex finds runs of a class several times faster than a character-class regex on
# the text itself, which must try every position (measured: 5-10x).
_TOKEN_CLASS = str.maketrans({i: ("x" if chr(i).isalnum() or chr(i) in "_-" else " ") for i in range(128)})
_DIGIT_CLASS = str.maketrans(
    {
        i: "9" if c.isdigit() else c if c in " .-()/" else "A" if c.isupper() else "a" if c.islower() else "_"
        for i, c in ((i, chr(i)) for i in range(128))
    }
)
# On the digit view: two digits, then digits and separators. Dates are consumed whole by the
# first alternatives (named group ``run`` unset), so they never reach Python as runs. The shared
# literal "99" leads, so the engine skips between digit pairs instead of trying every position
# (a top-level alternation costs 7x, measured). Possessive: a run is not re-tried shorter.
# The look-behind after the literal drops, in C, runs glued to a lower-case letter or starting
# inside a longer number (hex digests, UUIDs, ids); those glued to a capital may be IBANs.
# So are runs of digits and dots that cannot be a dotted phone (coordinates, decimals, versions,
# IP addresses, fractions of seconds): in such a run a card is never alone, an SSN never fenced
# and a phone refused by its dotted shape, unless a capital, a one-digit group (``_lead``) or an
# IBAN head stands before it, which the look-behinds of that alternative rule out (the dotted
# phone shapes it refuses are wider than ``_phones._DOTTED_PHONE``: a doubtful run goes to Python).
DIGIT_RUN = re.compile(
    r"99(?<![a9]99)(?:99-99-99(?:[ T]99)?(?!9)|[./-]99?[./-]9999(?!9)"
    r"|(?<!A99)(?<![9A][ .\-(]99)(?<!9[ .\-(][ .\-(]99)(?!9\.999\.9999(?!9)|9?(?:\.99){3,4}(?!9))"
    r"9*+(?:\.9++)++[ .\-()/]*+(?![9 .\-()/])"
    r"|(?P<run>[9 .\-()/]{5,}+))"
)
# A command-line flag: "-" after a blank or quote, then its name (a glued value included, as in
# "-pS3cret"). The literal "-" leads so the engine skips between hyphens; the look-behind after
# it drops the hyphens inside words, dates and ids in C.
_FLAG = re.compile(r"-(?<=[ \t\n\r'\"]-)-?[a-z0-9_][a-z0-9_\-]{0,39}+")
TOKEN = 18  # the shortest vendor key: "rk_live_" and ten characters
LONG_TOKEN = 32  # standalone-secret candidates start at this length


class ScanText:
    __slots__ = ("_ascii", "_ascii_lower", "_claims", "_digit_class", "_flags", "_merged", "_tokens", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._ascii: str | None = None
        self._ascii_lower: str | None = None
        self._claims: list[tuple[int, int]] = []
        self._merged: tuple[list[int], list[int]] | None = None
        self._digit_class: str | None = None
        self._tokens: list[tuple[int, int]] | None = None
        self._flags: list[tuple[int, int]] | None = None

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
            self._ascii = src if src.isascii() else src.encode("ascii", _ASCII_ERRORS).decode("ascii")
        return self._ascii

    @property
    def digit_class(self) -> str:
        """The ASCII view with every digit as ``9``, separators ``" .-()/"`` kept, letters as ``A``
        or ``a`` and all else ``_``; ``DIGIT_RUN`` finds the runs that can hold numeric PII in it."""
        if self._digit_class is None:
            self._digit_class = self.ascii.translate(_DIGIT_CLASS)
        return self._digit_class

    @property
    def tokens(self) -> list[tuple[int, int]]:
        """Maximal runs of ``[A-Za-z0-9_-]`` of at least ``TOKEN`` characters: where vendor keys
        (the shortest, ``rk_live_`` and ten characters, is 18) and standalone secrets can be."""
        if self._tokens is None:
            cls = self.ascii.translate(_TOKEN_CLASS)
            find = cls.find
            needle = "x" * TOKEN
            runs: list[tuple[int, int]] = []
            i = find(needle)
            while i >= 0:
                # The first match at or after a non-token character starts its run.
                j = find(" ", i + TOKEN)
                j = len(cls) if j < 0 else j
                runs.append((i, j))
                i = find(needle, j)
            self._tokens = runs
        return self._tokens

    @property
    def long_tokens(self) -> list[tuple[int, int]]:
        """The ``tokens`` of at least ``LONG_TOKEN`` characters (standalone-secret candidates)."""
        return [(s, e) for s, e in self.tokens if e - s >= LONG_TOKEN]

    @property
    def flags(self) -> list[tuple[int, int]]:
        """Command-line flags as spans of the lower-case view (``--password``, ``-p``, ``-pS3cret``,
        ``-u``): where the keyed and command-line rules look for values."""
        if self._flags is None:
            lower = self.ascii_lower
            self._flags = [m.span() for m in _FLAG.finditer(lower)] if "-" in lower else []
        return self._flags

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

    def lower_lines(self, hints: tuple[str, ...]) -> list[tuple[int, str]]:
        """The real lower-case text of each line whose ASCII lower-case view holds a hint, as
        ``(offset, lines)``: whole lines with their newline, neighbours merged.

        For keywords in other scripts (the ASCII view has "?" where their letters were).
        Lowering a long non-ASCII text costs several times a regex pass over it, and those
        keywords are rare, so only their lines are lowered. A pattern that never looks past a
        newline finds in these lines exactly what it finds in the whole lowered text.
        """
        view = self.ascii_lower
        spans: list[tuple[int, int]] = []
        for hint in hints:
            i = view.find(hint)
            while i >= 0:
                e = view.find("\n", i)
                e = len(view) if e < 0 else e + 1
                spans.append((view.rfind("\n", 0, i) + 1, e))
                i = view.find(hint, e)
        merged: list[tuple[int, int]] = []
        for s, e in sorted(spans):
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        out: list[tuple[int, str]] = []
        for s, e in merged:
            src = self.text[s:e]
            out.append((s, (src.replace("\u0130", "I") if "\u0130" in src else src).lower()))
        return out

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
