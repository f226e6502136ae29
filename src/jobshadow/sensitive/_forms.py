"""Passwords typed into login forms: the field after a user name (shared: device and server).

A password typed into a web or desktop login form has no key or command in front of it. What
the device's typed-text guard hands the detector shows the form's shape instead: Tab is
``\\t``, Return ``\\n``, a click that moved the caret between fields of the same window is the
field separator ``\\x1f`` (U+001F, never typed otherwise), and text redacted earlier (an e-mail
address, say) is a run of ``█``. The rule:

    USER SEP VALUE END

where SEP is ``\\t`` or ``\\x1f``; END is ``\\n``, ``\\r``, ``\\t``, ``\\x1f`` or the end of the text;
USER is one whole field that looks like a user name (``jdoe``, ``j.doe_2``, ``CORP\\jdoe``), an
e-mail address, or a ``█`` run; VALUE is one token of 1-64 characters. VALUE is a ``password``;
so is the next field when it repeats VALUE (a confirmation).

Precision safeguards, because tabs also separate cells of typed tables and align code:

* with a Tab separator, the line must not sit in a table: neither the line before nor the line
  after has a tab between two non-blank characters (TSV rows, aligned Go structs, Makefiles
  with arguments come in runs of such lines);
* USER must be a whole field, with no spaces (shell completion types ``cat READ⇥``, not a field);
* VALUE is not an e-mail address, URL, path, number with punctuation (``3.99``, ``12:30``,
  ``2024-05-01``), or digits other than a 4-8 digit PIN; a PIN does not follow a capitalised word
  (``Jan⇥1200`` is a sheet, not a login);
* a word after a capitalised word (``Jane⇥Doe``, ``Host⇥string``) is a name or a struct field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from jobshadow.sensitive._kinds import Finding
from jobshadow.sensitive._text import ScanText

_FIELD_BREAKS = "\t\x1f\n\r"
_MAX_USER = 128
_MAX_VALUE = 64
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9.\-]{1,253}\.[A-Za-z]{2,24}")
_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+\-]{0,63}|[A-Za-z0-9.\-]{1,30}\\[A-Za-z0-9._\-]{1,63}")
_REDACTED = re.compile(r"[\u2588A-Za-z0-9._%+\-@]*\u2588{3,}[\u2588A-Za-z0-9._%+\-@]*")
_NUMBERISH = re.compile(r"[0-9.,:/\-+$%]+|[$€£¥][0-9.,]+|[0-9.,]+[$€£¥%]")
_CAPITALISED = re.compile(r"[A-Z][a-z]+|[A-Z]+")
_INNER_TAB = re.compile(r"[^\s]\t+[^\s]")


def user_like(user: str) -> bool:
    if _USER.fullmatch(user):
        # Numbers, IP addresses, versions: a value's field, not a user's.
        return any(c.isalpha() for c in user)
    return _EMAIL.fullmatch(user) is not None or _REDACTED.fullmatch(user) is not None


def _value_ok(value: str, user: str) -> bool:
    if not 1 <= len(value) <= _MAX_VALUE or any(c.isspace() for c in value):
        return False
    if "://" in value or value.startswith(("/", "~/", "./")) or _EMAIL.fullmatch(value):
        return False
    if value.isdigit():
        return 4 <= len(value) <= 8 and not _CAPITALISED.fullmatch(user)
    if _NUMBERISH.fullmatch(value):
        return False
    # "Jane⇥Doe" is a name; "Host⇥string" a struct field: not after a capitalised word.
    return not (value.isalpha() and user.replace("-", "").isalpha() and user.istitle())


def tabular(text: str, ls: int, le: int) -> bool:
    """Whether the line before ``ls`` or the line after ``le`` has a tab between two cells."""
    if ls > 0:
        pls = text.rfind("\n", max(0, ls - 1 - 4096), ls - 1) + 1
        if _INNER_TAB.search(text, pls, ls - 1):
            return True
    if le < len(text):
        nle = text.find("\n", le + 1, le + 4097)
        if _INNER_TAB.search(text, le + 1, nle if nle >= 0 else min(len(text), le + 4097)):
            return True
    return False


def field_start(text: str, i: int) -> int:
    """Start of the field that ends at ``i``, or -1 when it is longer than a user name."""
    j = i
    lo = max(0, i - _MAX_USER)
    while j > lo and text[j - 1] not in _FIELD_BREAKS:
        j -= 1
    if j > 0 and text[j - 1] not in _FIELD_BREAKS:
        return -1
    return j


def _field_end(text: str, i: int) -> int:
    """End of the field that starts at ``i``, or -1 when it is longer than a value can be."""
    hi = min(len(text), i + _MAX_VALUE + 1)
    for j in range(i, hi):
        if text[j] in _FIELD_BREAKS:
            return j
    return hi if hi == len(text) else -1


def _separators(text: str) -> list[int]:
    found: list[int] = []
    for sep in ("\t", "\x1f"):
        i = text.find(sep)
        while i >= 0:
            found.append(i)
            i = text.find(sep, i + 1)
    found.sort()
    return found


def find_form_logins(st: ScanText) -> Iterator[Finding]:
    text = st.text
    if "\t" not in text and "\x1f" not in text:
        return
    last_end = -1
    for i in _separators(text):
        if i < last_end:
            continue
        fs = field_start(text, i)
        if fs < 0 or fs == i:
            continue
        user = text[fs:i]
        if not user_like(user):
            continue
        ve = _field_end(text, i + 1)
        if ve < 0:
            continue
        value = text[i + 1 : ve]
        if not _value_ok(value, user):
            continue
        if text[i] == "\t" and tabular(text, st.line_start(i), st.line_end(i)):
            continue
        yield Finding(i + 1, ve, "password")
        last_end = ve
        # A confirmation field repeats the password.
        if ve < len(text) and text[ve] in "\t\x1f" and text.startswith(value, ve + 1):
            after = ve + 1 + len(value)
            if after == len(text) or text[after] in _FIELD_BREAKS:
                yield Finding(ve + 1, after, "password")
                last_end = after
