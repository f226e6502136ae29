"""Numeric PII with checksums or issue rules: payment cards, US SSNs and IBANs (shared: device and
server).

The shared digit view (``ScanText.digit_class``, ``DIGIT_RUN``) gives the runs of digits and
separators long enough to matter; only inside those runs are the exact shapes tried, each with
its own validation: Luhn plus issuer prefix and length for cards, the SSA never-issued ranges for SSNs, the registry's
length and mod-97 for IBANs. Dates, times, versions and IP addresses fail the shapes or the
validation; digit strings with no separators count as an SSN only after a keyword (``SSN``…),
and as a 12- or 13-digit card only after a card word, because bare numbers of those lengths are
mostly ids and barcodes (EAN-13). Each run is also handed to ``_phones``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from jobshadow.sensitive._checks import card_valid, ssn_valid
from jobshadow.sensitive._kinds import Finding
from jobshadow.sensitive._phones import bare_phone, phones_in_run
from jobshadow.sensitive._pii import iban_at
from jobshadow.sensitive._text import ALNUM, DIGIT_RUN, ScanText

_CARD_SHAPES = (
    # Groups of four, the last one possibly shorter (12-19 digits: 4-4-4-4, 4-4-4-2, 4-4-4-4-3…).
    re.compile(r"(?<![0-9])[0-9]{4}([ -])[0-9]{4}\1[0-9]{4}(?:\1[0-9]{4})?(?:\1[0-9]{1,3})?(?![0-9])"),
    re.compile(r"(?<![0-9])[0-9]{4}([ -])[0-9]{6}\1[0-9]{4,5}(?![0-9])"),  # Amex 15, Diners 14, JCB 15
    re.compile(r"(?<![0-9])[0-9]{12,19}(?![0-9])"),
)
_SSN = re.compile(r"(?<![0-9\-])([0-9]{3})-([0-9]{2})-([0-9]{4})(?![0-9\-])")
_SSN_BARE = re.compile(r"(?<![0-9\-])([0-9]{3})[ ]?([0-9]{2})[ ]?([0-9]{4})(?![0-9\-])")
_SSN_CONTEXT = re.compile(
    r"\b(?:ssn|social security(?: number| no\.?| #)?|soc\.? ?sec\.?(?: no\.?)?|ss#|ss no\.?|ss number)"
    r"(?:[ \t]+(?:is|was|of|=))?\W{0,12}\Z"
)
_CARD_CONTEXT = re.compile(r"\b(?:card|cards|visa|maestro|credit|debit|cc|pan|amex|mastercard|kreditkarte|carte)\b")
_IBAN_BEFORE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4})* ?\Z")
# Runs that are never PII: dates, IP addresses, decimal amounts.
_ROUTINE = re.compile(
    r"[0-9]{1,4}[./][0-9]{1,2}[./][0-9]{1,4}|[0-9]{1,2}-[0-9]{1,2}-[0-9]{2,4}|[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9]+\.[0-9]{1,2}"
)
_UPPER = re.compile(r"[A-Z]")
_NON_DIGIT = re.compile(r"\D")
_FENCE = ALNUM | frozenset("._/:")  # ":" before digits: a time ("00:00:02.1234567") or a port
_IBAN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _fenced(st: ScanText, s: int, e: int) -> bool:
    """Digits glued to letters, paths or decimals belong to something else."""
    text = st.ascii
    if s and text[s - 1] in _FENCE:
        return False
    after = text[e : e + 1]
    return not (after and (after in ALNUM or (after in _FENCE and text[e + 1 : e + 2].isdigit())))


def _alone(st: ScanText, s: int, e: int) -> bool:
    """A shape that is not the tail or head of a longer run of digit groups
    (``AT94 9381 0402 4703 0635`` holds card-like groups)."""
    text = st.ascii
    before = text[max(0, s - 2) : s]
    after = text[e : e + 2]
    return not (
        (len(before) == 2 and before[1] in " -." and before[0].isdigit())
        or (len(after) == 2 and after[0] in " -." and after[1].isdigit())
    )


def _card_context(st: ScanText, s: int, e: int) -> bool:
    """A card word earlier on the line, or the number is a whole form field (typed in a card form)."""
    if st.before(s) in ("\t", "\x1f") and st.at(e) in ("", "\t", "\x1f", "\n", "\r"):
        return True
    return _CARD_CONTEXT.search(st.ascii_lower, max(st.line_start(s), s - 80), s) is not None


def _token_start(text: str, lo: int) -> int:
    """Where the run of IBAN characters that ends at ``lo`` starts (at most 34 back)."""
    j = lo
    while j > 0 and lo - j < 34 and text[j - 1] in _IBAN_CHARS:
        j -= 1
    return j


def _lead(text: str, lo: int) -> int:
    """Where a run starts once a leading one-digit group joins it ("1-800-…", "+1 (415) …",
    "8 (912) …"): the run pattern starts at two digits."""
    while True:
        j = lo
        while j > 0 and lo - j < 2 and text[j - 1] in " .-(":
            j -= 1
        if j == lo or j == 0 or not text[j - 1].isdigit() or (j > 1 and text[j - 2].isdigit()):
            return lo
        lo = j - 1


def find_numbers(st: ScanText) -> Iterator[Finding]:
    """Cards, SSNs, IBANs and phones, from one walk over the digit runs.

    Most runs are ids, amounts, coordinates and timestamps; each test below is ordered so that
    those leave after one or two C-level calls (the walk costs per run, not per character).
    """
    text = st.ascii
    printed: set[int] = set()
    digits_view = st.digit_class
    for m in DIGIT_RUN.finditer(digits_view):
        if m.lastindex is None:
            continue  # a date
        lo, hi = m.span()
        while digits_view[hi - 1] != "9":
            hi -= 1  # trailing separators belong to the prose
        if lo and text[lo - 1] in " .-(":
            lo = _lead(text, lo)
        if hi - lo < 7:
            continue
        before = text[lo - 1] if lo else ""
        start, glued = lo, before in ALNUM
        if glued:
            # Glued to letters: an IBAN or nothing (cards, SSNs and phones stand apart).
            if not before.isupper():
                continue
            start = _token_start(text, lo)
            iban = iban_at(st, start)
            if iban is not None:
                if iban.start not in printed:
                    printed.add(iban.start)
                    yield iban
                continue
        # Printed IBANs ("DE89 3704 …", "IT84 R451 9842 …"): the head sits one to four groups
        # before the digit run. Digits after a head that fails its checksum are a mistyped
        # IBAN, not a card or a phone. A head ends in a space or an IBAN character right
        # before the run: one look at that character spares the regexes for most runs.
        edge = text[start - 1] if start else ""
        if (edge in _IBAN_CHARS or (edge == " " and start > 1 and text[start - 2] in _IBAN_CHARS)) and (
            _UPPER.search(text, max(0, start - 24), start) is not None
        ):
            head = _IBAN_BEFORE.search(text, max(0, start - 24), start)
            if head is not None:
                if head.start() not in printed:
                    printed.add(head.start())
                    iban = iban_at(st, head.start())
                    if iban is not None:
                        yield iban
                continue
        if glued:
            continue
        run = text[lo:hi]
        if run.isdigit():
            yield from _plain_digits(st, lo, hi, run)
            continue
        if _ROUTINE.fullmatch(text, lo, hi):
            continue  # "05.10.2023", "10/05/2023", "10.0.12.200", "84074.60": dates, addresses, amounts
        digits = digits_view.count("9", lo, hi)  # the run holds digits and separators only
        if digits >= 12:
            yield from _cards(st, lo, hi)
        if digits >= 9:
            yield from _ssns(st, lo, hi)
        if 7 <= digits <= 15 or (digits > 15 and text.find("  ", lo, hi) >= 0):
            yield from phones_in_run(st, lo, hi)  # no phone has more than 15 digits


def _plain_digits(st: ScanText, s: int, e: int, digits: str) -> Iterator[Finding]:
    """A run of bare digits (the common case: ids, amounts, timestamps), checked without regexes."""
    n = len(digits)
    if st.before(s) == "+":
        yield from phones_in_run(st, s, e)  # "+4915112345678": international, bare
        return
    if not _fenced(st, s, e):
        return
    if 12 <= n <= 19 and st.before(s) != "+" and card_valid(digits) and (n > 13 or _card_context(st, s, e)):
        yield Finding(s, e, "credit_card")
    elif n == 9 and ssn_valid(digits[:3], digits[3:5], digits[5:]) and _ssn_context(st, s):
        yield Finding(s, e, "us_ssn")
    elif 7 <= n <= 15:
        phone = bare_phone(st, s, e)
        if phone is not None:
            yield phone


def _ssn_context(st: ScanText, s: int) -> bool:
    return _SSN_CONTEXT.search(st.ascii_lower, max(0, s - 40), s) is not None


def _cards(st: ScanText, lo: int, hi: int) -> Iterator[Finding]:
    # The grouped shapes need four digits and a space or dash, the bare one twelve digits in a
    # row: looked for on the digit view first, so most runs skip the three regexes.
    view = st.digit_class
    grouped = view.find("9999 ", lo, hi) >= 0 or view.find("9999-", lo, hi) >= 0
    shapes = _CARD_SHAPES if grouped else _CARD_SHAPES[2:]
    if not grouped and view.find("999999999999", lo, hi) < 0:
        return
    for shape in shapes:
        for m in shape.finditer(st.ascii, lo, hi):
            s, e = m.span()
            digits = _NON_DIGIT.sub("", m.group())
            if st.before(s) == "+" or not _alone(st, s, e):
                continue  # "+4915…" is a phone; "PL85 2667 4131 …" groups inside a longer number
            if _fenced(st, s, e) and card_valid(digits) and (len(digits) > 13 or _card_context(st, s, e)):
                yield Finding(s, e, "credit_card")


def _ssns(st: ScanText, lo: int, hi: int) -> Iterator[Finding]:
    text = st.ascii
    if text.find("-", lo, hi) >= 0:
        for m in _SSN.finditer(text, lo, hi):
            if _fenced(st, m.start(), m.end()) and ssn_valid(*m.groups()):
                yield Finding(m.start(), m.end(), "us_ssn")
    # Bare or spaced nine digits count only after an SSN keyword, and every keyword holds "ss"
    # or "soc": two C-level finds spare the regexes for the runs with none nearby.
    lower, near = st.ascii_lower, max(0, lo - 40)
    if lower.find("ss", near, hi) < 0 and lower.find("soc", near, hi) < 0:
        return
    for m in _SSN_BARE.finditer(text, lo, hi):
        if "-" in m.group() or not _fenced(st, m.start(), m.end()) or not ssn_valid(*m.groups()):
            continue
        if _ssn_context(st, m.start()):
            yield Finding(m.start(), m.end(), "us_ssn")
