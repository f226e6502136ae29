"""From recognised words to the boxes that must be filled.

Words are grouped into visual lines (vertical overlap, then left to right) and each line is
rebuilt as text with the character range of every word. The shared detector
(``jobshadow.sensitive.scan``) runs over each line, over its OCR-confusion rewrites, over a
variant where words the OCR split without a real space between them are glued back together,
and over all lines joined (findings that span lines: key blocks, a secret key below its key id).
Shape rules (``jobshadow.redact.shapes``) run beside it. A finding marks every word whose
characters it touches, and the marked words of one line that stand next to each other become
one box.

The detector is called with ``strict=True``: if it fails, the frame fails (fail closed).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from jobshadow.redact import shapes
from jobshadow.redact.confusions import variants
from jobshadow.redact.model import Box, ScreenFinding, Source, Word
from jobshadow.sensitive import scan

# Two words closer than this (in line heights) were one token split by the OCR, not two words.
GLUE = 0.2
MIN_CONF = 5.0  # below this a "word" is noise (a stray glyph fragment, a border)


@dataclass(slots=True)
class _Mark:
    kind: str
    source: Source


Index = list[tuple[int, int, int, int]]  # (start, end, line, word) of each word in a text


def group_lines(words: Sequence[Word]) -> list[list[Word]]:
    """Words in visual lines, top to bottom; each line left to right."""
    lines: list[list[Word]] = []
    bands: list[tuple[float, float]] = []
    for w in sorted(words, key=lambda w: (w.box.y + w.box.h / 2, w.box.x)):
        top, bottom = w.box.y, w.box.bottom
        for i in range(len(lines) - 1, max(-1, len(lines) - 4), -1):
            b0, b1 = bands[i]
            overlap = min(b1, bottom) - max(b0, top)
            if overlap >= 0.5 * min(b1 - b0, bottom - top):
                lines[i].append(w)
                bands[i] = (min(b0, top), max(b1, bottom))
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


def _mark_findings(text: str, index: Index, marks: dict[tuple[int, int], _Mark]) -> None:
    for f in scan(text, strict=True):
        for start, end, li, wi in index:
            if start < f.end and end > f.start:
                marks.setdefault((li, wi), _Mark(f.kind, "detector"))


def _scan_lines(lines: list[list[Word]], marks: dict[tuple[int, int], _Mark]) -> None:
    for li, line in enumerate(lines):
        seps = _separators(line)
        spaces = [""] + [" "] * (len(line) - 1)
        for tokens in variants([w.text for w in line]):
            for s in (spaces, seps) if seps != spaces else (spaces,):
                index: Index = []
                parts: list[str] = []
                _text(tokens, s, li, index, parts, 0)
                _mark_findings("".join(parts), index, marks)
    # All lines joined: the first rewrite of each line (recognised text) and the fullest one.
    for pick in (0, -1):
        index = []
        parts = []
        pos = 0
        for li, line in enumerate(lines):
            tokens = variants([w.text for w in line])[pick]
            if li:
                parts.append("\n")
                pos += 1
            pos = _text(tokens, [""] + [" "] * (len(line) - 1), li, index, parts, pos)
        _mark_findings("".join(parts), index, marks)


def _apply_shapes(lines: list[list[Word]], marks: dict[tuple[int, int], _Mark]) -> None:
    for li, line in enumerate(lines):
        tokens = [w.text for w in line]
        seps = _separators(line)
        # Key-shaped: judge each OCR word and each glued run (a key the OCR split in two).
        start = 0
        for wi in range(1, len(line) + 1):
            if wi == len(line) or seps[wi] == " ":
                glued = "".join(tokens[start:wi])
                kind = shapes.key_shaped(glued)
                for k in range(start, wi):
                    own = kind or shapes.key_shaped(tokens[k])
                    if own is None and shapes.unsure(tokens[k], line[k].conf):
                        own = "generic_token"
                    if own is not None:
                        marks.setdefault((li, k), _Mark(own, "shape"))
                start = wi
        text_parts: list[str] = []
        index: Index = []
        _text(tokens, [""] + [" "] * (len(line) - 1), li, index, text_parts, 0)
        for a, b in shapes.emails("".join(text_parts)):
            for s, e, _, wi in index:
                if s < b and e > a:
                    marks.setdefault((li, wi), _Mark("email", "shape"))
        for first, last, kind in shapes.digit_runs(tokens) + shapes.ibans(tokens) + shapes.keyword_values(tokens):
            for wi in range(first, last + 1):
                marks.setdefault((li, wi), _Mark(kind, "shape"))


def find(words: Sequence[Word]) -> list[ScreenFinding]:
    """The findings among ``words`` (frame coordinates); raises ``DetectorFailed`` if the
    detector fails."""
    lines = group_lines([w for w in words if w.text and w.conf >= MIN_CONF])
    marks: dict[tuple[int, int], _Mark] = {}
    _scan_lines(lines, marks)
    _apply_shapes(lines, marks)
    out: list[ScreenFinding] = []
    for li, line in enumerate(lines):
        run: Box | None = None
        mark: _Mark | None = None
        for wi, w in enumerate(line):
            m = marks.get((li, wi))
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
