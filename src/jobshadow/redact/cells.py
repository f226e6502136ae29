"""Where a line-by-line reading is not enough: values wrapped onto the next line, and table columns.

Words come grouped into visual lines (``detect.group_lines``); a line is cut into *cells* where the
gap between two words is wider than ``CELL_GAP`` line heights (table columns, aligned terminal
output; a word space or a mono-spaced blank is narrower). Positions are ``(line, word)`` indices.

* ``wrap_pairs``: the last word of a cell and the word that starts the next line right below that
  cell's left edge. A browser breaks a long value anywhere in a narrow cell or pane
  (``overflow-wrap: anywhere``), a terminal at its right edge: the rest of the value is that
  next word. ``detect`` reads each pair glued together and lets pieces of a secret spread across it.
* ``header_columns``: the cells below a table header (or a form label right above a value) whose
  last word is a password/secret/token/PIN keyword: the value is the whole cell, whatever it
  looks like, because the header is what says it is a secret.
* ``secret_columns``: a lone value that looks like a password (letters with digits or symbols) in
  a column where most values aligned with it are already found to be secrets: an API-key table
  with one plain password in it says, by its other rows, what that column holds.
"""

from __future__ import annotations

import itertools
import re
import statistics
from collections.abc import Mapping, Sequence

from jobshadow.redact.confusions import by_class
from jobshadow.redact.model import Word
from jobshadow.redact.shapes import LOOKALIKE, core

Pos = tuple[int, int]
Lines = Sequence[Sequence[Word]]

# A gap of at least this many line heights between two words of a line separates two cells.
CELL_GAP = 1.0
CELL_CHARS = 1.8
# A gap this wide (line heights) before a word may still be a column's edge in a tight table.
COLUMN_GAP = 0.6
# A header keeps naming the cells below it for at most this many rows.
MAX_ROWS = 40
# The head noun of a header cell that makes the column below it secret.
_HEADER = re.compile(
    r"^(?:pass(?:word|wd|code|phrase)?|pwd|pin|secrets?|tokens?|credentials?|api[-_ ]?keys?|apikeys?|"
    r"(?:access|secret|private|signing|client)[-_ ]keys?)$"
)
# Kinds a column of found values must hold to lend its kind to a lone value (secrets, not PII).
_SECRET_KINDS = frozenset({"password", "generic_token", "aws_access_key", "aws_secret_key", "gcp_api_key",
                           "github_token", "gitlab_token", "slack_token", "atlassian_token", "anthropic_api_key",
                           "openai_api_key", "stripe_key", "jwt", "azure_storage_key", "azure_client_secret",
                           "azure_connection_string", "gcp_service_account_key", "slack_webhook"})
_LOWER_HEX = re.compile(r"^[0-9a-f-]+$")
_UPPER_HEX = re.compile(r"^[0-9A-F-]+$")


def line_height(line: Sequence[Word]) -> float:
    return float(statistics.median(w.box.h for w in line)) if line else 0.0


def cells(line: Sequence[Word]) -> list[list[int]]:
    """Word indices of ``line`` grouped into cells (left to right)."""
    if not line:
        return []
    # A mono-spaced blank is a whole character wide, as wide as a short word is tall: the gap
    # must also exceed CELL_CHARS characters of the line's font.
    char_w = statistics.median(w.box.w / max(1, len(w.text)) for w in line)
    gap = max(CELL_GAP * line_height(line), CELL_CHARS * char_w)
    out = [[0]]
    for i in range(1, len(line)):
        if line[i].box.x - line[i - 1].box.right >= gap:
            out.append([i])
        else:
            out[-1].append(i)
    return out


def wrap_pairs(lines: Lines) -> list[tuple[Pos, Pos]]:
    """(last word of a cell, first word of the next line under that cell's left edge), where the
    line was broken there: the next line's first piece (up to a hyphen, or all of it) would not
    have fitted after the last word, before the next cell of the line or, for a line's last cell,
    within the widest text around that starts where the cell starts. Two rows of a table (cells
    starting at the same places) are not a wrap, however long their values."""
    spans = [_spans(line, cells(line)) for line in lines]
    out: list[tuple[Pos, Pos]] = []
    for li, line in enumerate(lines):
        tol = max(4.0, 0.6 * line_height(line))
        for ci, (x0, _right, cell) in enumerate(spans[li]):
            last = line[cell[-1]]
            h = max(1, last.box.h)
            for lj in range(li + 1, min(len(lines), li + 4)):
                hit = [c[0] for x, _, c in spans[lj] if abs(x - x0) <= tol
                       and -0.3 * h <= lines[lj][c[0]].box.y - last.box.bottom <= 1.0 * h]
                if not hit:
                    continue
                tail_cell = next(c for x, _, c in spans[lj] if c[0] == hit[0])
                if ci + 1 < len(spans[li]):
                    # The cell ended half a gap before the next one's text (its padding), and
                    # its rest stays inside that column: a line that runs on past it (a prompt
                    # under a terminal table) is a line of its own.
                    boundary = spans[li][ci + 1][0] - 0.5 * h
                    if lines[lj][tail_cell[-1]].box.right > spans[li][ci + 1][0]:
                        break
                else:
                    near = range(max(0, li - 10), min(len(lines), li + 11))
                    boundary = max(_extent(spans[k], x0, tol, h) for k in near) - tol
                fits = last.box.right + 0.3 * h + _first_piece(lines[lj][hit[0]]) <= boundary
                if not fits and not _rows(spans[li], spans[lj], tol):
                    out.append(((li, cell[-1]), (lj, hit[0])))
                break
    return out


Span = tuple[int, int, list[int]]  # a cell: left, right, its word indices


def _spans(line: Sequence[Word], row: list[list[int]]) -> list[Span]:
    return [(line[c[0]].box.x, line[c[-1]].box.right, c) for c in row]


def _extent(spans: list[Span], x0: int, tol: float, h: float) -> float:
    """How far right the text of a line that has a cell starting at ``x0`` reaches, through gaps
    narrower than a pane's margin (4 line heights); 0 for a line with no cell there."""
    right = 0.0
    for x, r, _ in spans:
        if right and x - right >= 4 * h:
            break
        if right or abs(x - x0) <= tol:
            right = r
    return right


def _rows(upper: list[Span], lower: list[Span], tol: float) -> bool:
    """Are two lines rows of one table (two or more cells starting at the same places), not a
    value wrapped in its cell, whose next line holds its rest (a cell beside it at most)?"""
    return sum(any(abs(a - b) <= tol for b, _, _ in lower) for a, _, _ in upper) >= 2


def _hex(text: str) -> bool:
    return bool(_LOWER_HEX.match(text) or _UPPER_HEX.match(text))


def continues(head: str, tail: str, tail_conf: float, spread_conf: float) -> bool:
    """Could ``tail``, starting the next line, be the rest of the secret ``head`` ends its line
    with? A piece the OCR was unsure of, or one that mixes letters with digits or flips case; not a
    ``KEY=value`` entry of its own, a date, a version, or a hex id under a key that is not hex."""
    c = core(tail)
    if len(c) < 2 or "=" in c or LOOKALIKE.match(c):
        return False
    if _hex(c) and not _hex(core(head)):
        return False
    if tail_conf < spread_conf:
        return True
    letters = [ch for ch in c if ch.isalpha()]
    flips = sum(a.isupper() != b.isupper() for a, b in itertools.pairwise(letters))
    return (bool(letters) and any(ch.isdigit() for ch in c)) or flips >= 3


def _first_piece(word: Word) -> float:
    """Width of ``word`` up to its first break opportunity (after a hyphen), or all of it."""
    text = word.text
    cut = text.find("-")
    n = cut + 1 if 0 <= cut < len(text) - 1 else len(text)
    return word.box.w * n / max(1, len(text))


def _fold(text: str) -> str:
    return by_class(core(text)).lower()


def header_columns(lines: Lines, marked: Mapping[Pos, str]) -> list[tuple[Pos, str]]:
    """Words in cells below a header cell whose last word is a secret keyword, with their kind."""
    out: list[tuple[Pos, str]] = []
    rows = [cells(line) for line in lines]
    for li, line in enumerate(lines):
        row = rows[li]
        if any((li, wi) in marked for wi in range(len(line))):
            continue  # a row holding a finding is a row of values, not of headers
        tol = max(4.0, 0.6 * line_height(line))
        above = _spans(lines[li - 1], rows[li - 1]) if li else []
        table_above = bool(above) and _rows(above, _spans(line, row), tol)
        for ci, cell in enumerate(row):
            if len(cell) > 3 or not _HEADER.match(_fold(line[cell[-1]].text)):
                continue
            if table_above and any(abs(x - line[cell[0]].box.x) <= tol for x, _, _ in above):
                continue  # a header tops its table; this is a value with a row like it above
            if any(line[k].text.endswith((":", "=")) for k in cell[:-1]):
                continue  # ``kind: Secret``: the keyword is the value of another key
            kind = "password" if _fold(line[cell[-1]].text).startswith(("pass", "pwd", "pin")) else "generic_token"
            lo = line[row[ci - 1][-1]].box.right if ci > 0 else None
            hi = line[row[ci + 1][0]].box.x if ci + 1 < len(row) else None
            if lo is None and hi is None:
                out += [(p, kind) for p in _value_below(lines, li, line[cell[0]])]
            else:
                out += [(p, kind) for p in _column_below(lines, li, lo, hi)]
    return out


def _value_below(lines: Lines, li: int, label: Word) -> list[Pos]:
    """A label alone on its line (a form field's): the single value right under it, if any."""
    if li + 1 >= len(lines):
        return []
    nxt = lines[li + 1]
    h = line_height(lines[li])
    if len(nxt) != 1 or nxt[0].box.y - label.box.bottom > 1.5 * h or abs(nxt[0].box.x - label.box.x) > 2 * h:
        return []
    if nxt[0].text.endswith((":", "=")):
        return []  # the next label, not a value
    return [(li + 1, 0)]


def _column_below(lines: Lines, li: int, lo: int | None, hi: int | None) -> list[Pos]:
    """Words of the rows below ``li`` whose centre lies between a header's neighbours."""
    out: list[Pos] = []
    bottom = max(w.box.bottom for w in lines[li])
    h = line_height(lines[li])
    for lj in range(li + 1, min(len(lines), li + 1 + MAX_ROWS)):
        line = lines[lj]
        if min(w.box.y for w in line) - bottom > 3 * h:
            break  # the table ended
        inside = [wi for wi, w in enumerate(line) if (lo is None or w.box.x + w.box.w / 2 > lo)
                  and (hi is None or w.box.x + w.box.w / 2 < hi)]
        if not inside:
            continue  # an empty cell, or a wrapped line of another column
        out += [(lj, wi) for wi in inside]
        bottom = max(w.box.bottom for w in line)
    return out


def password_like(text: str) -> bool:
    """A lone token a password could be: 6-64 characters, letters with digits or symbols, not a
    key=value pair, path, address, hex digest, date, version or number."""
    c = core(text)
    if not 6 <= len(c) <= 64 or any(ch in c for ch in "=:/\\@") or LOOKALIKE.match(c):
        return False
    if _hex(c):
        return False
    letters = sum(ch.isalpha() for ch in c)
    others = len(c) - letters
    return letters >= 2 and others >= 1


def secret_columns(lines: Lines, marked: Mapping[Pos, str]) -> list[tuple[Pos, str]]:
    """Lone password-like values in a column whose aligned values are mostly secrets found already."""
    # Words that start a column: a cell's first word, or one set off by more than a word space
    # (tables with little padding); each with whether it is also the last word of its cell.
    starts: list[tuple[Pos, Word, bool]] = []
    for li, line in enumerate(lines):
        h = line_height(line)
        for cell in cells(line):
            for k, wi in enumerate(cell):
                if k == 0 or line[wi].box.x - line[cell[k - 1]].box.right >= COLUMN_GAP * h:
                    starts.append(((li, wi), line[wi], wi == cell[-1]))
    out: list[tuple[Pos, str]] = []
    for pos, w, lone in starts:
        if pos in marked or not lone or not password_like(w.text):
            continue
        h = max(1, w.box.h)
        aligned = [p for p, o, _ in starts if p[0] != pos[0] and abs(o.box.x - w.box.x) <= max(3.0, 0.25 * h)
                   and abs(o.box.y - w.box.y) <= 20 * h]
        secret = [p for p in aligned if marked.get(p) in _SECRET_KINDS]
        if len(secret) >= 2 and 2 * len(secret) > len(aligned):
            out.append((pos, "password"))
    return out
