"""Numeric PII: payment cards, US SSNs, phone numbers and IBANs (shared: device and server).

The shared run pass (``ScanText.runs``) finds runs of digits and separators long enough to matter;
only inside those runs are the exact shapes tried, each with its own validation:
Luhn plus issuer prefix for cards, the SSA never-issued ranges for SSNs, and libphonenumber's
per-country numbering plans for phones. Dates, times, versions and IP addresses fail the shapes
or the validation; digit strings with no separators count only after a keyword (``SSN``,
``phone``…) because bare numbers are mostly ids and amounts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import phonenumbers

from jobshadow.sensitive._checks import card_valid, ssn_valid
from jobshadow.sensitive._kinds import Finding
from jobshadow.sensitive._pii import iban_at
from jobshadow.sensitive._text import ALNUM, ScanText

# Runs of digits and separators, the only places numeric PII can be, come from ScanText.runs.

_CARD_SHAPES = (
    re.compile(r"(?<![0-9])[0-9]{4}([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{4}(?:\1[0-9]{3})?(?![0-9])"),  # 16 / 19
    re.compile(r"(?<![0-9])[0-9]{4}([ -])[0-9]{6}\1[0-9]{4,5}(?![0-9])"),  # Amex 15, Diners 14
    re.compile(r"(?<![0-9])[0-9]{13,19}(?![0-9])"),
)
_SSN = re.compile(r"(?<![0-9\-])([0-9]{3})-([0-9]{2})-([0-9]{4})(?![0-9\-])")
_SSN_BARE = re.compile(r"(?<![0-9\-])([0-9]{3})[ ]?([0-9]{2})[ ]?([0-9]{4})(?![0-9\-])")
_SSN_CONTEXT = re.compile(
    r"\b(?:ssn|social security(?: number| no\.?| #)?|soc\.? ?sec\.?(?: no\.?)?|ss#|ss no\.?|ss number)"
    r"(?:[ \t]+(?:is|was|of|=))?\W{0,12}\Z"
)

# NANP area codes and exchanges never start with 0 or 1: checked here, before libphonenumber.
_NANP = re.compile(
    r"(?<![0-9\-])(?:1[ .-]?)?(?:\([2-9][0-9][0-9]\)[ .-]?|[2-9][0-9][0-9][ .-])[2-9][0-9][0-9][ .-][0-9]{4}(?![0-9\-])"
)
_TRUNK = re.compile(r"(?<![0-9\-])\(?0[0-9]{1,4}\)?(?:[ .-][0-9]{2,8}){1,4}(?![0-9\-])")
_BARE_PHONE = re.compile(r"(?<![0-9\-])[0-9]{10,13}(?![0-9\-])")
_PHONE_CONTEXT = re.compile(
    r"\b(?:phone|tel|telephone|mobile|cell|call|fax|whatsapp|sms|text|contact|ph|mob|reach)"
    r"(?:\s+(?:me|us|him|her|them))?(?:\s+(?:at|on))?(?:\s*(?:no|number|#|nr))?\.?\W{0,6}\Z"
)
# Things numbered like phones that are not phones: order, ticket and account numbers.
_NOT_PHONE_CONTEXT = re.compile(r"(?:\b(?:order|invoice|ticket|case|ref|id|po|acct|account|tracking)|#)\W{0,4}\Z")
_IBAN_BEFORE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4})* ?\Z")
_ZIP4 = re.compile(r"[0-9]{5}-[0-9]{4}")
_ISO_DATE = re.compile(r"[12][0-9]{3}-[01][0-9]-[0-3][0-9](?![0-9])")
_DOTTED_DATE = re.compile(r"[0-9]{1,4}[./][0-9]{1,2}[./][0-9]{1,4}")
_DOTTED_QUAD = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_DATE = re.compile(r"[0-9]{1,4}[./-][0-9]{1,2}[./-][0-9]{1,4}")
# Regions whose national format starts with a trunk "0" that the country code replaces.
_NATIONAL_REGIONS = ("GB", "DE", "FR", "NL", "AU", "IE", "CH", "AT", "BE", "IN", "NZ", "SE", "JP")
_TRUNK_CODES = tuple(sorted({phonenumbers.country_code_for_region(r) for r in _NATIONAL_REGIONS}))
_NON_DIGIT = re.compile(r"\D")
_FENCE = ALNUM | frozenset("._/:")  # ":" before digits: a time ("00:00:02.1234567") or a port


def _phone_ok(candidate: str, region: str | None) -> bool:
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number)


def _trunk_ok(candidate: str, short_ok: bool = False) -> bool:
    """A "0…" national number valid in one of the trunk-prefix countries.

    Built directly as PhoneNumber objects: parsing the same digits once per region would cost a
    dozen full parses for every number that is not a phone.
    """
    nsn = _NON_DIGIT.sub("", candidate)[1:]
    # Seven-digit national numbers exist (Irish, Austrian, German areas) but so do a great many
    # seven-digit ids; accept them only in the "(0xx) …" form that marks a phone.
    if not (7 if short_ok else 8) <= len(nsn) <= 11 or nsn[0] == "0":
        return False
    national = int(nsn)
    return any(
        phonenumbers.is_valid_number(phonenumbers.PhoneNumber(country_code=cc, national_number=national))
        for cc in _TRUNK_CODES
    )


def _fenced(st: ScanText, s: int, e: int) -> bool:
    """Digits glued to letters, paths or decimals belong to something else."""
    text = st.ascii
    if s and text[s - 1] in _FENCE:
        return False
    after = text[e : e + 1]
    return not (after and (after in ALNUM or (after in _FENCE and text[e + 1 : e + 2].isdigit())))


def _alone(st: ScanText, s: int, e: int) -> bool:
    """A phone-shaped stretch that is not the tail or head of a longer run of digit groups
    (``AT94 9381 0402 4703 0635`` holds an Australian-mobile shape)."""
    text = st.ascii
    before = text[max(0, s - 2) : s]
    after = text[e : e + 2]
    return not (
        (len(before) == 2 and before[1] in " -." and before[0].isdigit())
        or (len(after) == 2 and after[0] in " -." and after[1].isdigit())
    )


def find_numbers(st: ScanText) -> Iterator[Finding]:
    text = st.ascii
    runs = st.runs
    for start in runs.iban_heads:
        iban = iban_at(st, start)
        if iban is not None:
            yield iban
    printed: set[int] = set()
    for lo, hi in runs.digits:
        # Printed IBANs ("DE89 3704 0044 …", "GB29 NWBK 6016 …"): the head sits one to four
        # groups before the digit run. Digits after a head that fails its checksum are a
        # mistyped IBAN, not a phone or a card.
        window = text[lo - 24 if lo > 24 else 0 : lo]
        if window != window.lower():  # a capital within reach: could be a country code
            head = _IBAN_BEFORE.search(text, max(0, lo - 24), lo)
            if head is not None:
                if head.start() not in printed:
                    printed.add(head.start())
                    iban = iban_at(st, head.start())
                    if iban is not None:
                        yield iban
                continue
        chunk = text[lo:hi]
        if chunk.isdigit():
            yield from _plain_digits(st, lo, hi, chunk)
            continue
        if _ISO_DATE.match(chunk):
            # "2024-05-01 12:30": a timestamp; only what follows the date can still matter.
            lo += 10
            chunk = chunk[10:]
        digits = len(chunk) - sum(map(chunk.count, " -.()"))
        if digits < 8:
            continue  # eight: "(022) 12345", the shortest national number accepted
        if _DOTTED_DATE.fullmatch(chunk) or _DOTTED_QUAD.fullmatch(chunk):
            continue  # "05.10.2023", "10/05/2023", "10.0.12.200": a date or an address
        if st.before(lo) == "(":
            lo -= 1
        if digits >= 13:
            yield from _cards(st, lo, hi)
        if digits >= 9:
            yield from _ssns(st, lo, hi)
        yield from _national_phones(st, lo, hi)


def _plain_digits(st: ScanText, s: int, e: int, digits: str) -> Iterator[Finding]:
    """A run of bare digits (the common case: ids, amounts, timestamps), checked without regexes."""
    n = len(digits)
    if not _fenced(st, s, e):
        return
    if 13 <= n <= 19 and st.before(s) != "+" and card_valid(digits):
        yield Finding(s, e, "credit_card")
    elif n == 9 and ssn_valid(digits[:3], digits[3:5], digits[5:]) and _ssn_context(st, s):
        yield Finding(s, e, "us_ssn")
    if 10 <= n <= 13 and _phone_context(st.ascii_lower, s) and _national_ok(digits):
        yield Finding(s, e, "phone")


def _ssn_context(st: ScanText, s: int) -> bool:
    return _SSN_CONTEXT.search(st.ascii_lower, max(0, s - 40), s) is not None


def _national_ok(digits: str) -> bool:
    return _phone_ok(digits, "US") or (digits[0] == "0" and _trunk_ok(digits))


def _phone_context(lower: str, s: int) -> bool:
    """A bare digit string counts as a phone only after a phone word, never after an order word."""
    return bool(_PHONE_CONTEXT.search(lower, max(0, s - 30), s)) and not _NOT_PHONE_CONTEXT.search(
        lower, max(0, s - 20), s
    )


def _cards(st: ScanText, lo: int, hi: int) -> Iterator[Finding]:
    for shape in _CARD_SHAPES:
        for m in shape.finditer(st.ascii, lo, hi):
            s, e = m.span()
            digits = _NON_DIGIT.sub("", m.group())
            if st.before(s) == "+" or not _alone(st, s, e):
                continue  # "+4915…" is a phone; "PL85 2667 4131 …" groups inside a longer number
            if _fenced(st, s, e) and card_valid(digits):
                yield Finding(s, e, "credit_card")


def _ssns(st: ScanText, lo: int, hi: int) -> Iterator[Finding]:
    text = st.ascii
    for m in _SSN.finditer(text, lo, hi):
        if _fenced(st, m.start(), m.end()) and ssn_valid(*m.groups()):
            yield Finding(m.start(), m.end(), "us_ssn")
    for m in _SSN_BARE.finditer(text, lo, hi):
        if "-" in m.group() or not _fenced(st, m.start(), m.end()) or not ssn_valid(*m.groups()):
            continue
        if _ssn_context(st, m.start()):
            yield Finding(m.start(), m.end(), "us_ssn")


def _national_phones(st: ScanText, lo: int, hi: int) -> Iterator[Finding]:
    text, lower = st.ascii, st.ascii_lower
    for m in _NANP.finditer(text, lo, hi):
        s, e = m.span()
        if not _fenced(st, s, e) or not _alone(st, s, e) or _NOT_PHONE_CONTEXT.search(lower, max(0, s - 20), s):
            continue
        if _phone_ok(m.group(), "US"):
            yield Finding(s, e, "phone")
    for m in _TRUNK.finditer(text, lo, hi):
        s, e = m.span()
        cand = m.group()
        if not _fenced(st, s, e) or not _alone(st, s, e) or _DATE.fullmatch(cand.strip("()")):
            continue
        if _ZIP4.fullmatch(cand):
            continue  # "Boston, MA 02111-1307": a ZIP+4 code
        if _NOT_PHONE_CONTEXT.search(lower, max(0, s - 20), s):
            continue
        if _trunk_ok(cand, short_ok=cand.startswith("(")):
            yield Finding(s, e, "phone")
    for m in _BARE_PHONE.finditer(text, lo, hi):
        s, e = m.span()
        if not _fenced(st, s, e) or not _phone_context(lower, s):
            continue
        if _national_ok(m.group()):
            yield Finding(s, e, "phone")


_INTL = re.compile(r"\+[1-9][0-9 \-.()]{6,24}[0-9]")
_GROUP_END = re.compile(r"[0-9](?=[ \-.()]|$)")


def find_international_phones(st: ScanText) -> Iterator[Finding]:
    text = st.ascii
    for m in _INTL.finditer(text):
        s = m.start()
        if st.before(s) in ALNUM or st.before(s) == "+":
            continue
        cand = m.group()
        # The run may carry trailing numbers ("+44 20 7946 0958 ext 12", "… 2024"): try the
        # longest prefix ending on a digit group that libphonenumber accepts.
        ends = [g.end() for g in _GROUP_END.finditer(cand)]
        for end in reversed(ends):
            if end < 8:
                break
            if _phone_ok(cand[:end], None):
                e = s + end
                if st.at(e) not in ALNUM:
                    yield Finding(s, e, "phone")
                break
