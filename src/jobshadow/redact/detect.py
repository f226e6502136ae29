"""From recognised words to the boxes that must be filled.

Words are grouped into visual lines (vertical overlap, then left to right) and each line is
rebuilt as text with the character range of every word. The shared detector
(``jobshadow.sensitive.scan``) runs over each line, over its OCR-confusion rewrites, over a
variant where words the OCR split without a real space between them are glued back together,
and over all lines joined (findings that span lines: key blocks, a secret key below its key id).
Shape rules (``jobshadow.redact.shapes``) run beside it. What only the page's geometry shows
comes next (``jobshadow.redact.cells``): a value wrapped onto the next line is read glued to its
rest, the cells under a password/secret/token header are values of it, and a lone password-like
value in a column of secrets is one. A finding marks every word whose characters it touches,
pieces of a secret next to it (on its line, or where it wrapped) go with it, and the marked
words of one line that stand next to each other become one box.

The detector is called with ``strict=True``: if it fails, the frame fails (fail closed).
"""

from __future__ import annotations

import itertools
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from jobshadow.redact import cells, shapes
from jobshadow.redact.confusions import text_variants
from jobshadow.redact.model import Box, ScreenFinding, Source, Word
from jobshadow.sensitive import scan

# Two words closer than this (in line heights) were one token split by the OCR, not two words.
GLUE = 0.2
# Words read with less confidence than this next to a finding are taken to be part of it.
SPREAD_CONF = 50.0
# Findings whose neighbours are other words, not pieces of them.
_NO_SPREAD = frozenset({"email", "phone", "password", "credit_card", "iban", "us_ssn"})
_TOKEN = re.compile(r"\S+")
_WRAP = re.compile(r"(?<=[-.@])\n")
_DOMAIN_TAIL = re.compile(r"[A-Za-z0-9-]\.[A-Za-z]{2,}\W*$")


@dataclass(slots=True)
class _Mark:
    kind: str
    source: Source


Index = list[tuple[int, int, int, int]]  # (start, end, line, word) of each word in a text
Pos = cells.Pos


def group_lines(words: Sequence[Word]) -> list[list[Word]]:
    """Words in visual lines, top to bottom; each line left to right."""
    lines: list[list[Word]] = []
    # A line's band is the median top and bottom of its words, not their union: one tall box
    # (a bracket, a glyph the OCR merged with the row below) must not chain two rows, or a row
    # of the pane beside, into one line whose text comes out in the wrong order.
    bands: list[tuple[float, float]] = []
    for w in sorted(words, key=lambda w: (w.box.y + w.box.h / 2, w.box.x)):
        top, bottom = w.box.y, w.box.bottom
        for i in range(len(lines) - 1, max(-1, len(lines) - 4), -1):
            b0, b1 = bands[i]
            overlap = min(b1, bottom) - max(b0, top)
            if overlap >= 0.5 * min(b1 - b0, bottom - top):
                lines[i].append(w)
                bands[i] = (statistics.median(x.box.y for x in lines[i]),
                            statistics.median(x.box.bottom for x in lines[i]))
                break
        else:
            lines.append([w])
            bands.append((top, bottom))
    return [sorted(line, key=lambda w: w.box.x) for line in lines]


def _separators(line: list[Word]) -> list[str]:
    """The separator before each word: "" where the OCR split one token, else " "."""
    heights = sorted(w.box.h for w in line)
    h = heights[len(heights) // 2]
    seps = [""]
    for a, b in itertools.pairwise(line):
        seps.append("" if b.box.x - a.box.right < GLUE * h else " ")
    return seps


def _text(tokens: list[str], seps: list[str], line_no: int, index: Index, parts: list[str], pos: int) -> int:
    for wi, (tok, sep) in enumerate(zip(tokens, seps, strict=True)):
        parts.append(sep)
        pos += len(sep)
        parts.append(tok)
        index.append((pos, pos + len(tok), line_no, wi))
        pos += len(tok)
    return pos


def _mark_span(a: int, b: int, index: Index, marks: dict[tuple[int, int], _Mark], kind: str,
               source: Source) -> None:
    for start, end, li, wi in index:
        if start < b and end > a:
            marks.setdefault((li, wi), _Mark(kind, source))


def _line_texts(line: list[Word], li: int) -> list[tuple[str, Index]]:
    """The line as text (words spaced, and with split tokens glued) and every confusion
    rewrite of each; rewrites keep offsets, so all share their text's index."""
    seps = _separators(line)
    spaces = [""] + [" "] * (len(line) - 1)
    out: list[tuple[str, Index]] = []
    for s in (spaces, seps) if seps != spaces else (spaces,):
        index: Index = []
        parts: list[str] = []
        _text([w.text for w in line], s, li, index, parts, 0)
        out.extend((v, index) for v in text_variants("".join(parts)))
    return out


def _scan_lines(lines: list[list[Word]], marks: dict[tuple[int, int], _Mark]) -> None:
    for li, line in enumerate(lines):
        for text, index in _line_texts(line, li):
            for f in scan(text, strict=True):
                _mark_span(f.start, f.end, index, marks, f.kind, "detector")
            _apply_shapes(text, index, marks)
        for wi, w in enumerate(line):
            if shapes.unsure(w.text, w.conf):
                marks.setdefault((li, wi), _Mark("generic_token", "shape"))
    # All lines joined (key blocks, a secret key below its key id): as read, and rewritten.
    block: Index = []
    block_parts: list[str] = []
    pos = 0
    for li, line in enumerate(lines):
        if li:
            block_parts.append("\n")
            pos += 1
        pos = _text([w.text for w in line], [""] + [" "] * (len(line) - 1), li, block, block_parts, pos)
    for text in text_variants("".join(block_parts)):
        for f in scan(text, strict=True):
            _mark_span(f.start, f.end, block, marks, f.kind, "detector")
        _apply_runs(text, block, marks)  # a number or IBAN wrapped onto the next line
        # An address wrapped after `-`, `.` or `@`: the line break read as part of the domain.
        for a, b in shapes.emails(_WRAP.sub("-", text)):
            _mark_span(a, b, block, marks, "email", "shape")


def _apply_shapes(text: str, index: Index, marks: dict[tuple[int, int], _Mark]) -> None:
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
    for a, b, tok in tokens:
        kind = shapes.key_shaped(tok)
        if kind is not None:
            _mark_span(a, b, index, marks, kind, "shape")
    for a, b in shapes.emails(text):
        _mark_span(a, b, index, marks, "email", "shape")
    _apply_runs(text, index, marks)


def _apply_runs(text: str, index: Index, marks: dict[tuple[int, int], _Mark]) -> None:
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
    words = [t for _, _, t in tokens]
    for first, last, kind in shapes.digit_runs(words) + shapes.ibans(words) + shapes.keyword_values(words):
        _mark_span(tokens[first][0], tokens[last][1], index, marks, kind, "shape")


def _spread(lines: list[list[Word]], marks: dict[tuple[int, int], _Mark], wraps: list[tuple[Pos, Pos]]) -> None:
    """Mark the neighbours of a secret that are pieces of it: a key the OCR broke up comes back as
    fragments it was unsure of, or that look random themselves (letters mixed with digits, case
    flipping), possibly with a short piece between them. Ordinary words beside a secret are read
    with confidence and look like words. A value wrapped onto the next line has its next piece
    there (``cells.wrap_pairs``)."""

    def piece(li: int, wi: int) -> bool:
        w = lines[li][wi]
        return w.conf < SPREAD_CONF or shapes.random_looking(w.text)

    def piece_beyond(li: int, wi: int, step: int) -> bool:
        """Is the first word of 4+ characters from ``wi`` on (in the same cell) a piece? Several
        short fragments (``i wBP 35``) can stand between two pieces of one key."""
        while 0 <= wi < len(lines[li]) and cell_of[li][wi] == cell_of[li][wi - step]:
            if len(shapes.core(lines[li][wi].text)) > 3 or lines[li][wi].conf < SPREAD_CONF:
                return piece(li, wi)
            wi += step
        return False

    # Pieces of one key stand in one cell: a gap as wide as a column's is not inside a token.
    cell_of = [[0] * len(line) for line in lines]
    for li, line in enumerate(lines):
        for ci, cell in enumerate(cells.cells(line)):
            for wi in cell:
                cell_of[li][wi] = ci
    across: dict[Pos, list[Pos]] = {}
    for a, b in wraps:
        across.setdefault(a, []).append(b)
        across.setdefault(b, []).append(a)
    changed = True
    while changed:
        changed = False
        for li, line in enumerate(lines):
            for wi, w in enumerate(line):
                if (li, wi) in marks or not any(ch.isalnum() for ch in w.text):
                    continue
                short = len(shapes.core(w.text)) <= 3
                for nb, step in ((wi - 1, 1), (wi + 1, -1)):
                    m = marks.get((li, nb))
                    if m is None or m.kind in _NO_SPREAD or cell_of[li][nb] != cell_of[li][wi]:
                        continue
                    if piece(li, wi) or (short and piece_beyond(li, wi + step, step)):
                        marks[(li, wi)] = _Mark(m.kind, "shape")
                        changed = True
                        break
                else:
                    for nb_pos in across.get((li, wi), ()):
                        m = marks.get(nb_pos)
                        head = lines[nb_pos[0]][nb_pos[1]]
                        if m is not None and m.kind not in _NO_SPREAD and cells.continues(
                                head.text, w.text, w.conf, SPREAD_CONF):
                            marks[(li, wi)] = _Mark(m.kind, "shape")
                            changed = True
                            break


def _glue_wraps(lines: list[list[Word]], marks: dict[tuple[int, int], _Mark], wraps: list[tuple[Pos, Pos]]) -> None:
    """Read each wrapped pair glued (``stark-`` + ``industries.de``, ``ghp_`` + the rest): a finding
    that crosses the join marks both sides. Both sides must look like parts of what they would
    join: the next line a domain (it has a dot) for an address; for anything else, random pieces
    on both sides (or a vendor prefix, or a piece found already, before the break), so a word
    that ends a table cell above a key, or a sentence that goes on under one, stays."""
    for (li, wi), (lj, wj) in wraps:
        head, tail = lines[li][wi], lines[lj][wj]
        head_piece = ((li, wi) in marks or shapes.random_looking(head.text) or head.conf < SPREAD_CONF
                      or shapes.prefix_kind(shapes.core(head.text)) is not None)
        # The head's cell up to it, the tail's cell from it: the local part of an address before
        # the OCR's space, a keyword before a key, come along.
        before = next(c for c in cells.cells(lines[li]) if wi in c)
        after = next(c for c in cells.cells(lines[lj]) if wj in c)
        index: Index = []
        text = ""
        for n, (line_no, wn) in enumerate([(li, k) for k in before] + [(lj, k) for k in after]):
            if n and wn != wj:
                text += " "
            index.append((len(text), len(text) + len(lines[line_no][wn].text), line_no, wn))
            text += lines[line_no][wn].text
        join = index[len(before) - 1][1]
        token = (join - len(head.text), join + len(tail.text))
        for variant in text_variants(text):
            spans = [(f.start, f.end, f.kind) for f in scan(variant, strict=True)]
            spans += [(a, b, "email") for a, b in shapes.emails(variant)]
            kind = shapes.key_shaped(variant[token[0]:token[1]])
            if kind is not None:
                spans.append((*token, kind))
            for a, b, k in spans:
                if not a < join < b:
                    continue
                if k == "email":
                    if not (_DOMAIN_TAIL.search(tail.text) or head.text[-1:] in "-.@" or tail.text[:1] in "-.@"):
                        continue
                elif not (head_piece and cells.continues(head.text, tail.text, tail.conf, SPREAD_CONF)):
                    continue
                _mark_span(a, b, index, marks, k, "shape")


def find(words: Sequence[Word]) -> list[ScreenFinding]:
    """The findings among ``words`` (frame coordinates); raises ``DetectorFailed`` if the
    detector fails."""
    # Low-confidence words are kept: random strings are exactly what the recogniser is unsure of.
    lines = group_lines([w for w in words if w.text])
    marks: dict[tuple[int, int], _Mark] = {}
    _scan_lines(lines, marks)
    wraps = cells.wrap_pairs(lines)
    _glue_wraps(lines, marks, wraps)
    for pos, kind in cells.header_columns(lines, {p: m.kind for p, m in marks.items()}):
        marks.setdefault(pos, _Mark(kind, "shape"))
    _spread(lines, marks, wraps)
    for pos, kind in cells.secret_columns(lines, {p: m.kind for p, m in marks.items()}):
        marks.setdefault(pos, _Mark(kind, "shape"))
    out: list[ScreenFinding] = []
    for li, line in enumerate(lines):
        run: Box | None = None
        mark: _Mark | None = None
        # A box never bridges two cells: marked words of two columns or panes that happen to
        # stand next to each other in a line would otherwise fill everything between them.
        starts = {c[0] for c in cells.cells(line)}
        top = statistics.median(w.box.y for w in line)
        bottom = statistics.median(w.box.bottom for w in line)
        for wi, word in enumerate(line):
            w = Word(word.text, _trimmed(word.box, top, bottom), word.conf)
            m = marks.get((li, wi))
            if wi in starts and run is not None and mark is not None:
                out.append(ScreenFinding(mark.kind, run, mark.source))
                run = mark = None
            if m is None:
                if run is not None and mark is not None:
                    out.append(ScreenFinding(mark.kind, run, mark.source))
                run = mark = None
                continue
            if run is None:
                run, mark = w.box, m
            else:
                run = run.union(w.box)
        if run is not None and mark is not None:
            out.append(ScreenFinding(mark.kind, run, mark.source))
    return out


def _trimmed(box: Box, top: float, bottom: float) -> Box:
    """``box``, when it is half again as tall as its line's band, cut to that band with a quarter
    of its height to spare: tesseract sometimes stretches a word's box over the line below (small
    fonts at tight line spacing), and the fill would hide that line."""
    if box.h <= 1.5 * (bottom - top):
        return box
    spare = 0.25 * (bottom - top)
    y0 = max(box.y, int(top - spare))
    y1 = min(box.bottom, int(bottom + spare + 0.999))
    return box if y1 - y0 < 1 else Box(box.x, y0, box.w, y1 - y0)
