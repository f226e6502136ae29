"""Phone numbers as people write them, valid in a numbering plan or not (shared: device and server).

People mistype, invent, abbreviate and format numbers in their own way, so a number's *shape*
decides, not its validity: each run of digits and separators from the shared run pass
(``ScanText.digit_class``, walked once by ``_numbers``) is split into groups and accepted when
it is written the way phone numbers are written, and nothing else is:

* ``+`` and a country code, 8-15 digits (``+44 20 7946 0958``, ``+1-555-123-4567``);
* an area code in parentheses, closed before the last group (``(415) 555-0134``, ``(02) 9876 5432``,
  ``+49 (0)30 …``);
* the NANP shape 3-3-4, optionally after ``1`` (``415.555.0134``, ``1-800-555-0199``);
* a trunk ``0`` or international ``00`` and 9-13 digits in groups (``0171 234 5678``,
  ``07700 900123``, ``030/1234567``, ``001-555-123-4567``);
* groups that end in pairs (``06 12 34 56 78``, ``612 34 56 78``) or in 4-4 (``138 0013 8000``);
* any of 7-15 digits, grouped or bare, after a phone word (``call me at 5550134``, ``Tel:``,
  ``mobile``, ``M:`` …) or before ``(cell)``.

Extensions (``x204``, ``ext. 12``) are part of the number. Never a phone: dates, times, IP
addresses, versions, decimals, ISBNs (their last group is one check digit), groups that run on
into a longer chain of digits (IBANs, cards, tracking numbers), or numbers right after an order,
invoice, ticket, tax-id or similar word. Bare digit strings count only after a phone word, since
bare numbers are mostly ids, amounts and timestamps.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

from jobshadow.sensitive._kinds import Finding
from jobshadow.sensitive._text import ALNUM, ScanText, word_set

_GROUP = re.compile(r"\(?[0-9]+\)?")
_SEP = re.compile(r"[ \t./-]+")
_DATE = re.compile(r"[0-9]{1,2}[./-][0-9]{1,2}[./-](?:[0-9]{2}|[0-9]{4})|[0-9]{4}[./-][0-9]{1,2}[./-][0-9]{1,2}")
_DOTTED_QUAD = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_ZIP4 = re.compile(r"[0-9]{5}-[0-9]{4}")
# A phone word before the number, within the line: "call me at", "my cell is", "Tel.:", "Handy".
# Grouped by first letter (each group keeps its words' order, so the same word wins at each
# position): at a word start the engine tries one branch per letter, not every word.
_CUE = re.compile(
    r"\b(?:p(?:hone|h|ortable)|t(?:el|ele|elephone|elefon|elefono|elefone|ext(?:ed)? me|lf|fn)|m(?:obile?|ob|ovil)|"
    r"c(?:ell|ellphone|elular|ellulare|all|alled|alling|ontact|allback|all-back)|h(?:andy|otline|elpdesk)|fax|"
    r"whats ?app|s(?:ignal|ms|witchboard)|r(?:each|ing|eception)|d(?:ial|irect)|landline|extension|"
    r"n(?:umber|umero|ummer))\b"
)
# A label at the start of the line: "M 07700 900123", "T: +44 …", "work  055 886-9671".
_LABEL = re.compile(
    r"[ \t>*-]*(?:[mtpfhwco]|ph|mob|tel|cel|fax|dir|work|home|office|main|desk|direct|private|business)"
    r"\.?:?[ \t]*\Z"
)
_CUE_AFTER = re.compile(r"[ \t]*\(?(?:cell|mobile|mob|m|office|work|w|home|h|fax|direct|landline|whatsapp)\)")
# Layout that says "phone" with no phone word on the number's line (``_laid_out``).
# A phone word ending the line above: "call me on⏎0412 345 678", "Mobile:⏎…", "text me at⏎…".
_CUE_ABOVE = re.compile(
    _CUE.pattern + r"(?:[ \t]+(?:me|us|him|her|them))?(?:[ \t]+(?:at|on|is|via|under))?[ \t]*[:.\-]?[ \t]*\r?\Z"
)
# A name right before the bracketed number: "Sergius (571-5121) said", "ask Ana (0612345678)".
_NAME_BEFORE = re.compile(r"(?:^|(?<=[\s,;:]))[A-Z][a-z]+(?:[ \-][A-Z][a-z]+){0,2}[ \t]\Z")
# Capitalised words that name a number as an amount, a count or a period, not a person.
_NOT_NAMES = word_set(
    """
    total subtotal amount balance price cost sum fee fees tax vat net gross count qty quantity items rows
    population revenue sales profit year years page pages step steps size rank score version build
    day days week weeks month months height width weight length distance area volume
    """
)
_SIGNATURE_RULE = re.compile(r"(?m)^--[ \t]*\r?$")
_LAYOUT_LEFT = frozenset(("", " ", "\t", "|", ">", "*"))
_CELL_RIGHT = re.compile(r"[ \t]*(?:[|\t]|  |\r?$)")
_COMPACT_DATE = re.compile(r"(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])")
_MAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# Numbers named as something else, right before them.
_NOT_PHONE = re.compile(
    r"(?:\b(?:order|invoice|inv|ticket|case|ref|reference|id|po|acct|account|tracking|isbn|ean|upc|sku|"
    r"serial|sn|ein|tin|vat|iban|bic|routing|aba|zip|postcode|postal|build|version|ver|pid|job|"
    r"batch|lot|part|model|receipt|confirmation|booking|transaction|txn|policy|claim|member|badge|item|"
    r"product|registration|license|licence|passport|isin|cusip|imei|rma|pin|passcode|password|pwd|pw)"
    r"(?:\s*(?:no|nr|num|number|#|id))?"
    r"|(?<![a-z])#)\W{0,4}\Z"
)
# Words that name a number as something other than a phone, anywhere between a phone word and it.
_DIGIT = re.compile(r"[0-9]")
_NAMED = re.compile(r"\b(?:order|invoice|ticket|tracking|account|reference|ref|case|serial|pin|passcode|isbn)\b")
_EXT = re.compile(r"(?:[ \t]*,?[ \t]*\(?(?:ext\.?|extension|x)[ \t.:]*|x)([0-9]{1,6})\)?(?![0-9A-Za-z])")
_FENCE = ALNUM | frozenset("._/:")
_IBAN_BEFORE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4})* ?\Z")
_QUAD_INSIDE = re.compile(r"(?<![0-9.])[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?![0-9]|\.[0-9])")
_SSN_SHAPE = re.compile(r"[0-9]{3}-[0-9]{2}-[0-9]{4}")
_DOTTED = re.compile(r"[0-9]+(?:\.[0-9]+)+")
_DOTTED_PHONE = re.compile(r"(?:1\.)?[0-9]{3}\.[0-9]{3}\.[0-9]{4}|0?[0-9]{1,2}(?:\.[0-9]{2}){3,4}")
_MAX_PIECE = 40  # "+44 (0)20 7946 0958" is 19; room for odd spacing


def _cued(st: ScanText, s: int, e: int) -> bool:
    """A phone word before the number on its line (or a label like "(cell)" right after it),
    and no word naming it as something else in between ("tracking number is …")."""
    lower = st.ascii_lower
    ls = st.line_start(s)
    lo = max(ls, s - 48)
    last = _CUE.search(lower, lo, s)
    if last is not None:
        while (nxt := _CUE.search(lower, last.end(), s)) is not None:
            last = nxt  # the phone word nearest the number decides
        # Another number or a naming word between the phone word and this number: the word is
        # about something else ("phone  179  3.715,85 €  2175963471407", "tracking number is …").
        if _DIGIT.search(lower, last.end(), s) is not None:
            return False
        return _NAMED.search(lower, max(lo, last.start() - 16), s) is None
    if _LABEL.match(lower, ls, s) is not None or _CUE_AFTER.match(lower, e) is not None:
        return True
    return _laid_out(st, s, e, ls)


def _laid_out(st: ScanText, s: int, e: int, ls: int) -> bool:
    """No phone word in reach, but the layout says "phone" (a number, not an amount or an id):

    * a phone word ends the line above a number that starts its line ("call me on⏎…");
    * a capitalised name stands right before the number in brackets ("Sergius (571-5121) said");
    * the number fills its line, in a block (three lines up, two down, no blank line between)
      that holds an e-mail address or sits under a ``--`` signature line;
    * the number is a later cell of a row (``|``, tab or two spaces apart) that holds an e-mail
      address: a contact record ("Ana Ruiz | sales | 0612345678 | ana@…").

    A span an earlier detector claimed (a typed password, a form field) stays theirs; words
    naming the number otherwise ("Customer ID⏎…", "order⏎…") are ruled out by ``_settle``.
    """
    text, lower = st.ascii, st.ascii_lower
    if text[s : s + 1] == "(":
        s += 1  # the bracket _candidate put in front of the number
    bracketed = text[s - 1 : s] == "(" and text[e : e + 1] == ")"
    start = s - 1 if bracketed else s
    if not bracketed:
        # Every rule below needs a bracket, or blanks, bars or quote marks alone before the
        # number on its line, or a cell edge: one or two characters rule out a number in prose.
        left = text[start - 1] if start > ls else ""
        if left not in _LAYOUT_LEFT or (left == " " and start - 1 > ls and text[start - 2] not in _LAYOUT_LEFT):
            return False
    if st.covered(s, e):
        return False
    if bracketed:
        name = _NAME_BEFORE.search(text, max(ls, start - 40), start)
        if name is not None and name.group().split(None, 1)[0].lower() not in _NOT_NAMES:
            return True
    first = text[ls:start].strip(" \t|>*") == ""
    if first and ls > 0:
        above_start = st.line_start(ls - 1)
        cue = _CUE_ABOVE.search(lower, max(above_start, ls - 1 - 48), ls - 1)
        if cue is not None and _NAMED.search(lower, max(above_start, cue.start() - 16), ls - 1) is None:
            return True
    if not _cell_starts(text, ls, start):
        return False  # inside a sentence: only words or brackets can say "phone" there
    le = st.line_end(e)
    end = e + 1 if bracketed else e
    if _CELL_RIGHT.match(text, end, le) is None or _COMPACT_DATE.fullmatch(text, s, e):
        return False  # "20060115": with only the layout to go by, a date
    before_cells = text[ls:start].strip(" \t|>*")
    if not before_cells and not text[end:le].strip(" \t|\r"):
        return _contact_block(st, ls, le)  # the number fills its line: a card or a signature
    # One cell of a row: a contact record when the row holds the e-mail address itself and the
    # number is not its first cell (ids lead rows); otherwise the cell before it is a label
    # that names it ("Date of birth  20060115", "Employee no  …"), and only phone words count.
    return bool(before_cells) and text.find("@", ls, le) >= 0 and _MAIL.search(text, ls, le) is not None


def _cell_starts(text: str, ls: int, start: int) -> bool:
    """Whether a table cell starts right before ``start``: the blanks before it follow the line's
    start or a ``|``, or hold a tab or two spaces."""
    r = start
    while r > ls and text[r - 1] in " \t":
        r -= 1
    return r == ls or text[r - 1] == "|" or text.find("\t", r, start) >= 0 or text.find("  ", r, start) >= 0


def _contact_block(st: ScanText, ls: int, le: int) -> bool:
    """Whether the lines around ``[ls, le)`` (three up, two down, up to a blank line) hold an
    e-mail address, or a ``--`` signature line stands above them."""
    text = st.ascii
    lo = ls
    for _ in range(3):
        if lo == 0:
            break
        prev = st.line_start(lo - 1)
        if not text[prev : lo - 1].strip():
            break
        lo = prev
    hi = le
    for _ in range(2):
        if hi >= len(text):
            break
        nxt = st.line_end(hi + 1)
        if not text[hi + 1 : nxt].strip():
            break
        hi = nxt
    if text.find("@", lo, hi) >= 0 and _MAIL.search(text, lo, hi) is not None:
        return True
    return _SIGNATURE_RULE.search(text, lo, ls) is not None


def _shape_ok(groups: list[str], sizes: list[int], seps: list[str], n: int, digits: int, plus: bool) -> bool:
    """Whether the first ``n`` digit groups (``digits`` digits in all, ``sizes`` each) are written
    the way phone numbers are (see the module docstring)."""
    if digits > 15 or sizes[n - 1] < 2:
        return False  # too long for any number plan; a lone last digit is a check digit (ISBN)
    if plus:
        return digits >= 8
    if n >= 2 and digits >= 8 and _area_code(groups, n):
        return True
    if n == 3 and sizes[0] == sizes[1] == 3 and sizes[2] == 4:
        return seps[0] == seps[1]  # "415.555.0134", not "415 555.0134"
    if n == 4 and groups[0] == "1" and sizes[1] == sizes[2] == 3 and sizes[3] == 4:
        return True  # "1-800 555 0199"
    first = groups[0].lstrip("(")
    if first[0] == "0" and not first.startswith("000") and n >= 2 and 9 <= digits <= (15 if first[1:2] == "0" else 13):
        return True  # a trunk 0, or 00 and a country code
    if n >= 3 and sizes[n - 1] == sizes[n - 2] == 2 and (digits >= 9 or (sizes[n - 3] == 2 and digits >= 8)):
        return digits <= 13
    return n >= 3 and sizes[n - 1] == sizes[n - 2] == 4 and 10 <= digits <= 12


def _area_code(groups: list[str], n: int) -> bool:
    """An area code in brackets among the first ``n`` groups: opened in the first or second group
    and closed there or in the next one, before the last ("(415) 555-0134", "+49 (0)30 …").
    A bracket still open at the last group holds the whole number ("Population (944 484 935)")."""
    for i in (0, 1):
        if i < n and groups[i][0] == "(":
            return any(groups[j][-1] == ")" for j in range(i, min(i + 2, n - 1)))
    return False


def _candidate(st: ScanText, s: int, e: int) -> tuple[int, int] | None:
    """The phone number in ``text[s:e]`` (a digit run), or None.

    Trailing groups set apart by a separator the number does not use inside are cut off
    ("555-123-4567     42": a table's next column), and the rest is judged alone.
    """
    text = st.ascii
    before = text[s - 1] if s else ""
    plus = before == "+"
    if plus or before == "(":
        s -= 1
    if not _head_ok(text, st.ascii_lower, s):
        return None  # _settle would refuse any number starting here: spare the shape and cue tests
    body_start = s + 1 if plus else s
    body = text[body_start:e]
    bare = body.strip("()")
    if _DATE.fullmatch(bare) or _DOTTED_QUAD.fullmatch(bare):
        return None
    zip4 = _ZIP4.fullmatch(bare) is not None  # "02111-1307": a ZIP+4 code, unless a phone word says not
    spans = [m.span() for m in _GROUP.finditer(text, body_start, e)]
    groups = [text[a:b] for a, b in spans]
    seps = [text[b:a] for (_, b), (a, _) in itertools.pairwise(spans)]
    if spans[0][0] != body_start or not all(
        _SEP.fullmatch(sep) or (not sep and (g.endswith(")") or h.startswith("(")))
        for sep, g, h in zip(seps, groups, groups[1:], strict=False)
    ):
        return None  # a parenthesis where no group starts or ends: not a phone's punctuation
    # An extension after the number ("313-5860 ext 8956") says "phone" as well as a phone word.
    cued: bool | None = True if _EXT.match(st.ascii_lower, e) else None
    sizes = [len(g.strip("()")) for g in groups]
    upto = list(itertools.accumulate(sizes, initial=0))  # digits in the first k groups
    for keep in range(len(groups), 0, -1):
        if keep < len(groups) and seps[keep - 1] in seps[: keep - 1] and "  " not in seps[keep - 1]:
            continue  # the dropped group is joined like the kept ones: part of the same number
        digits = upto[keep]
        if not zip4 and _shape_ok(groups, sizes, seps, keep, digits, plus):
            return s, spans[keep - 1][1]
        if not 7 <= digits <= 15 or sizes[keep - 1] < 2:
            continue
        if cued is None:
            cued = _cued(st, s, e)
        if cued:
            return s, spans[keep - 1][1]
    return None


def _pieces(text: str, lo: int, hi: int) -> Iterator[tuple[int, int]]:
    """A run split where two or more spaces part columns ("555-123-4567   42"), in pieces short
    enough to be one number; longer pieces are lists or tables of numbers and are skipped."""
    start = lo
    while start < hi:
        gap = text.find("  ", start, hi)
        end = hi if gap < 0 else gap
        if 7 <= end - start <= _MAX_PIECE:
            yield start, end
        start = end
        while start < hi and not text[start].isdigit() and text[start] not in "(+":
            start += 1


def phones_in_run(st: ScanText, lo: int, hi: int) -> Iterator[Finding]:
    """Phones in a digit run that ``_numbers`` has already cleared of IBANs, glued digits and
    a leading date."""
    text = st.ascii
    if text.startswith(("-X", "-x"), hi) or (hi - lo == 11 and _SSN_SHAPE.fullmatch(text, lo, hi)):
        return  # an ISBN-10 whose check digit is X; an SSN's 3-2-4
    dots = text.count(".", lo, hi)
    if dots >= 3 and _QUAD_INSIDE.search(text, lo, hi):
        return  # "ping -c 3 37.122.93.28": an IP address in the run
    if dots and _DOTTED.fullmatch(text, lo, hi) and not _DOTTED_PHONE.fullmatch(text, lo, hi):
        return  # "10.0.19045.3693", "2.4.11828.1": versions, not "415.555.0134" or "06.12.34.56.78"
    pieces = (
        _pieces(text, lo, hi) if text.find("  ", lo, hi) >= 0 else ((lo, hi),) if 7 <= hi - lo <= _MAX_PIECE else ()
    )
    for ps, pe in pieces:
        found = _candidate(st, ps, pe)
        if found is not None:
            finding = _settle(st, *found)
            if finding is not None:
                yield finding


def bare_phone(st: ScanText, s: int, e: int) -> Finding | None:
    """A run of 7-15 bare digits is a phone after a phone word ("call 4155550134"), when it has a
    trunk 0 and 10-11 digits ("07700900123"), or when it is a whole form field of 9 or more
    (shorter digits typed in a form are a PIN's)."""
    text = st.ascii
    n = e - s
    if not _head_ok(text, st.ascii_lower, s):
        return None
    if n in (10, 11) and text[s] == "0" and text[s + 1] != "0":
        return _settle(st, s, e)  # a trunk 0; "00…" bare is as often a barcode or a label
    if n >= 9 and st.before(s) in ("\t", "\x1f") and st.at(e) in ("", "\t", "\x1f", "\n", "\r"):
        return _settle(st, s, e)
    return _settle(st, s, e) if _cued(st, s, e) else None


def _head_ok(text: str, lower: str, s: int) -> bool:
    """Whether a number may start at ``s``, judged by what stands before it (see ``_settle``)."""
    before = text[s - 1] if s else ""
    if before in _FENCE and not (before == ":" and lower.endswith(("tel:", "sms:", "callto:"), 0, s)):
        return False  # digits glued to a word, a path, a decimal or a time
    # "SO-0494-68749", "INV#0171 234 5678": an id with its letters
    return not (before in "-#" and s > 1 and text[s - 2].isalnum())


def _settle(st: ScanText, s: int, e: int) -> Finding | None:
    """The finding for a phone-shaped candidate: fenced, with its extension, not named otherwise."""
    text, lower = st.ascii, st.ascii_lower
    if not _head_ok(text, lower, s):
        return None
    ext = _EXT.match(lower, e)
    if ext is not None:
        e = ext.end()
    after = text[e : e + 1]
    if after and (after in ALNUM or (after in _FENCE and text[e + 1 : e + 2].isdigit())):
        return None
    if _NOT_PHONE.search(lower, max(0, s - 24), s) is not None:
        return None
    return Finding(s, e, "phone")
