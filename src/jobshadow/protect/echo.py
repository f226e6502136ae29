"""Keep what the typed-text guard withholds out of the pixels that echo it (device trust zone).

A terminal or editor draws every typed character, so a secret removed from the key stream would
still be legible in the frames. The shield knows *where* typed characters appeared without
reading any text: the ordered input stream carries, after each key press, the bounding box of
what changed on screen (``DamageNotice.box``), and the echo of a key is the change that follows
it in the window it was typed into. The shield never sees the secret itself.

Two kinds of fill, both applied to a frame right before it is encoded (pixels are replaced in
place; the originals are never copied anywhere):

* **pending** — keys still held by the guard that already form a finding, or may be the start of
  one: the area their echo changed is filled in every frame grabbed after the first of them,
  until the guard decides;
* **taints** — once keys are redacted, the area their echo changed stays filled in every later
  frame of that window for as long as it may still show them: window-relative, so it follows
  the window when it moves, and shifted with the window's content when that scrolls (a
  terminal printing output, an editor scrolling). Scrolling is measured between consecutive
  frames by matching hashes of the window's pixel rows (whole lines of text move together).
  When the content is replaced (a cleared terminal, a full-screen program), the taint stops
  filling but remembers the rows it covered; if those rows come back (the program exits and
  the terminal restores its screen) it fills them again.

What it cannot know: a copy of the secret that a program prints elsewhere (``echo $KEY``), or
text that moves sideways. The server's ``redact`` stage reads every curated frame (OCR plus the
same detector) for those.

Owned by the recorder's writer thread (not thread-safe). Costs nothing while no taint is live;
with taints, one CRC per pixel row of the tainted windows per encoded frame.
"""

from __future__ import annotations

import collections
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from jobshadow.protect.masking import Box, fill_boxes
from jobshadow.records import Rect, VisibleWindow

# Echo arrives a few ms after a key locally, up to a few hundred over ssh.
ECHO_LATENCY_S = 0.3
# Fill a little beyond the changed area (anti-aliased glyph edges, cursor outlines).
_MARGIN = 2
# Rows whose hash occurs more often than this are background (blank lines): they say nothing
# about where the content went.
_AMBIGUOUS = 2
_MIN_VOTES = 4
# Local echo lands within milliseconds; a run without any change this long after its last key
# was not echoed.
_NO_ECHO_AFTER = 0.08


@dataclass(frozen=True, slots=True)
class TypedSpan:
    """Keys that form (or may be forming) a secret, typed into one window.

    ``outer`` is the window's rectangle while they were typed; ``after`` the time of the first
    key typed after the span (its boundary), None while nothing has followed it yet.
    """

    window_id: int
    outer: Rect
    first: float
    last: float
    after: float | None = None


@dataclass
class _Taint:
    boxes: list[Box]  # window-relative, at the content position when created
    collect_until: float
    after: float | None
    outer: Rect
    dy: int = 0
    lost: bool = False
    fingerprint: tuple[int, ...] = ()
    seen: float = 0.0

    def rows(self) -> tuple[int, int]:
        return min(b[1] for b in self.boxes) + self.dy, max(b[3] for b in self.boxes) + self.dy


@dataclass
class _WindowState:
    taints: list[_Taint] = field(default_factory=list)
    rows: dict[int, int] = field(default_factory=dict)  # window-relative row -> hash
    size: tuple[int, int] = (0, 0)


class EchoShield:
    def __init__(self, *, latency: float = ECHO_LATENCY_S, keep_damage_s: float = 30.0,
                 max_taints: int = 32, forget_after_s: float = 1800.0) -> None:
        self.latency = latency
        self.keep_damage_s = keep_damage_s
        self.max_taints = max_taints
        self.forget_after_s = forget_after_s
        self._damage: collections.deque[tuple[float, Box]] = collections.deque(maxlen=8192)
        self._windows: dict[int, _WindowState] = {}
        self._boxes_seen = False
        self.frames_shielded = 0
        self.pixels_filled = 0

    @property
    def taints(self) -> int:
        return sum(len(w.taints) for w in self._windows.values())

    # --- inputs -------------------------------------------------------------------------------
    def damage(self, t: float, box: Rect) -> None:
        """A change on screen at ``t`` (bounding box since the last grab), in stream order."""
        b = (box.x, box.y, box.x + box.width, box.y + box.height)
        self._boxes_seen = True
        self._damage.append((t, b))
        while self._damage and t - self._damage[0][0] > self.keep_damage_s:
            self._damage.popleft()
        for state in self._windows.values():
            for taint in state.taints:
                if t <= taint.collect_until:
                    self._extend(taint, t, b)

    def echoed(self, outer: Rect, first: float, last: float, after: float | None, now: float) -> bool | None:
        """Did the window at ``outer`` show keys typed from ``first`` to ``last``?

        Changes after ``after`` (the key that ended the run, e.g. Return) belong to that key.

        An echo moves: each character changes a new place (the glyph, the caret after it). A
        blinking caret changes the same small box again and again, so damage that never differs
        from one box is no echo. None when the backend reports no change areas at all, or when
        it is too early to say.
        """
        if not self._boxes_seen:
            return None
        # Damage carries the server's millisecond clock: the echo of the key at ``after`` can bear
        # that very time, so the window ends just before it.
        end = min(last + self.latency, now)
        stop = after if after is not None else float("inf")
        seen = Counter(c for t, b in self._damage
                       if first <= t <= end and t < stop and (c := _clip(b, outer)) is not None)
        if len(seen) >= 2:
            return True
        if len(seen) == 1 and next(iter(seen.values())) == 1:
            return True  # one change, once: a quick echo caught in a single notice
        if now < last + _NO_ECHO_AFTER:
            return None
        return False

    def taint(self, span: TypedSpan) -> None:
        """Keys of ``span`` were redacted: keep their echo out of every later frame."""
        boxes = self._region(span, float("inf"))
        taint = _Taint(boxes=[], collect_until=span.last + self.latency, after=span.after, outer=span.outer,
                       seen=span.last)
        taint.boxes = boxes
        state = self._windows.setdefault(span.window_id, _WindowState())
        state.taints.append(taint)
        if len(state.taints) > self.max_taints:
            self._merge_oldest(state)

    def forget(self) -> None:
        """Drop every taint and damage record (capture stopped: nothing more will be encoded)."""
        self._damage.clear()
        self._windows.clear()

    # --- the frame ------------------------------------------------------------------------------
    def protect(self, image: Any, width: int, height: int, windows: Sequence[VisibleWindow],
                grabbed_at: float, pending: Iterable[TypedSpan] = ()) -> int:
        """Fill every pending and tainted echo visible in this frame; return pixels filled.

        ``image`` is the frame's writable BGRA buffer (``width * 4``-byte rows); ``windows``
        the frame's stacking, ``grabbed_at`` when it was grabbed.
        """
        shown = {w.window_id: w.outer for w in windows if w.in_scope}
        fills: list[Box] = []
        for span in pending:
            outer = shown.get(span.window_id)
            if outer is None or span.first > grabbed_at:
                continue
            for x0, y0, x1, y1 in self._region(span, grabbed_at):
                fills.append((outer.x + x0, outer.y + y0, outer.x + x1, outer.y + y1))
        rows_of: dict[int, dict[int, int]] = {}
        for wid, state in list(self._windows.items()):
            if not state.taints:
                del self._windows[wid]
                continue
            outer = shown.get(wid)
            if outer is None:
                state.rows = {}  # not visible: its content may change unseen
                state.taints = [t for t in state.taints if grabbed_at - t.seen < self.forget_after_s]
                continue
            rows = rows_of[wid] = _row_hashes(image, width, height, outer)
            fills.extend(self._track(state, outer, rows, grabbed_at))
        if not fills:
            return 0
        filled = fill_boxes(image, width, height, fills)
        self.frames_shielded += 1
        self.pixels_filled += filled
        return filled

    # --- internals ------------------------------------------------------------------------------
    def _region(self, span: TypedSpan, until: float) -> list[Box]:
        """Window-relative boxes that changed while the span was typed and echoed.

        Changes from the key that ended the span on (Return: a new line, a prompt, output) are
        not its echo; only when nothing changed before that key (a slow, remote echo) are the
        changes up to ``latency`` after the span's last key taken instead.
        """
        o = span.outer
        end = min(span.last + self.latency, until)
        before: list[Box] = []
        later: list[Box] = []
        for t, b in self._damage:
            if t < span.first or t > end:
                continue
            c = _clip(b, o)
            if c is None:
                continue
            (later if span.after is not None and t >= span.after else before).append(c)
        return _merge(before or later)

    def _extend(self, taint: _Taint, t: float, b: Box) -> None:
        """Damage arriving after the taint was made, while the span may still be echoing."""
        if taint.after is not None and t >= taint.after and taint.boxes:
            return
        c = _clip(b, taint.outer)
        if c is None:
            return
        taint.boxes = _merge([*taint.boxes, (c[0], c[1] - taint.dy, c[2], c[3] - taint.dy)])

    def _track(self, state: _WindowState, outer: Rect, rows: dict[int, int], now: float) -> list[Box]:
        size = (outer.width, outer.height)
        shift: int | None = None
        if state.rows and state.size == size:
            shift = _shift(state.rows, rows)
        index = _index(rows)
        fills: list[Box] = []
        kept: list[_Taint] = []
        for taint in state.taints:
            if not taint.boxes:
                continue
            lo, hi = taint.rows()
            if taint.lost:
                where = _find(taint.fingerprint, index) if taint.fingerprint else None
                if where is None:
                    if now - taint.seen < self.forget_after_s:
                        kept.append(taint)
                    continue
                taint.dy += where - lo
                taint.lost = False
            elif shift is not None:
                taint.dy += shift
            elif state.rows and taint.fingerprint:
                # Content changed beyond recognition: still in place, elsewhere, or gone?
                current = tuple(rows.get(r, -1) for r in range(lo, hi))
                if _same(taint.fingerprint, current):
                    pass
                else:
                    where = _find(taint.fingerprint, index)
                    if where is None:
                        taint.lost = True
                        kept.append(taint)
                        continue
                    taint.dy += where - lo
            lo, hi = taint.rows()
            if hi < -20 * outer.height or lo > 21 * outer.height:
                continue  # scrolled far away: whatever shows it again is a new screen
            taint.seen = now
            taint.fingerprint = tuple(rows.get(r, -1) for r in range(lo, hi))
            kept.append(taint)
            for x0, y0, x1, y1 in taint.boxes:
                fills.append((outer.x + x0 - _MARGIN, outer.y + y0 + taint.dy - _MARGIN,
                              outer.x + x1 + _MARGIN, outer.y + y1 + taint.dy + _MARGIN))
        state.taints = kept
        state.rows = rows
        state.size = size
        return fills

    def _merge_oldest(self, state: _WindowState) -> None:
        """Fold the two oldest taints into one covering both (never forget one: that would leak)."""
        a, b = state.taints[0], state.taints[1]
        boxes = [(x0, y0 + a.dy - b.dy, x1, y1 + a.dy - b.dy) for x0, y0, x1, y1 in a.boxes]
        merged = _Taint(boxes=_merge([*boxes, *b.boxes]), collect_until=max(a.collect_until, b.collect_until),
                        after=b.after, outer=b.outer, dy=b.dy, seen=max(a.seen, b.seen))
        state.taints[:2] = [merged]


def _clip(b: Box, o: Rect) -> Box | None:
    x0, y0 = max(b[0], o.x), max(b[1], o.y)
    x1, y1 = min(b[2], o.x + o.width), min(b[3], o.y + o.height)
    if x0 >= x1 or y0 >= y1:
        return None
    return (x0 - o.x, y0 - o.y, x1 - o.x, y1 - o.y)


def _merge(boxes: list[Box]) -> list[Box]:
    """Union boxes that overlap or touch into their bounding boxes (few boxes: quadratic is fine)."""
    out = list(boxes)
    changed = True
    while changed:
        changed = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                if a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]:
                    out[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del out[j]
                    changed = True
                    break
            if changed:
                break
    return out


def _row_hashes(image: Any, width: int, height: int, outer: Rect) -> dict[int, int]:
    """CRC of each visible pixel row of the window, keyed by window-relative row."""
    mv = memoryview(image).cast("B")
    stride = width * 4
    x0, x1 = max(0, outer.x), min(width, outer.x + outer.width)
    y0, y1 = max(0, outer.y), min(height, outer.y + outer.height)
    if x0 >= x1:
        return {}
    crc = zlib.crc32
    return {y - outer.y: crc(mv[y * stride + x0 * 4: y * stride + x1 * 4]) for y in range(y0, y1)}


def _index(rows: dict[int, int]) -> dict[int, list[int]]:
    index: dict[int, list[int]] = {}
    for r, h in rows.items():
        index.setdefault(h, []).append(r)
    return index


def _shift(before: dict[int, int], after: dict[int, int]) -> int | None:
    """How far the window's content moved down (negative: up), or None when it cannot be told."""
    index = _index(before)
    votes: Counter[int] = Counter()
    distinct = 0
    for r, h in after.items():
        where = index.get(h)
        if where is None or len(where) > _AMBIGUOUS:
            continue
        distinct += 1
        for rp in where:
            votes[r - rp] += 1
    if not votes:
        return None
    best, n = votes.most_common(1)[0]
    if n < _MIN_VOTES or n < 0.2 * distinct:
        return None
    return best


def _find(fingerprint: tuple[int, ...], index: dict[int, list[int]]) -> int | None:
    """The row where a run of remembered rows appears again, if it clearly does."""
    votes: Counter[int] = Counter()
    useful = 0
    for i, h in enumerate(fingerprint):
        where = index.get(h)
        if h == -1 or where is None or len(where) > _AMBIGUOUS:
            continue
        useful += 1
        for r in where:
            votes[r - i] += 1
    if not votes:
        return None
    start, n = votes.most_common(1)[0]
    return start if n >= max(2, useful // 2) else None


def _same(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    if len(a) != len(b) or not a:
        return False
    return sum(x == y for x, y in zip(a, b, strict=True)) >= len(a) * 0.8
