"""Hold typed keys back until the text they form has been checked for secrets (device trust zone).

Key events of the focused, in-scope window wait in a buffer. The text they type is rebuilt
(printable characters, Return and Tab, BackSpace editing the buffer) and scanned by
``jobshadow.sensitive``; keys whose characters fall inside a finding are replaced by a single
``Redaction`` marker carrying only the kind. Modifier keys pressed within that span go too (they
would reveal which characters were capitals), and presses and releases stay paired.

When is text released? A word is complete once a boundary (space, Return, Tab) follows it, so
completed words are released ``holdback`` seconds after their boundary — that keeps what a crash
can lose well under a second. Held longer, up to ``max_hold``:

* the word still being typed (a half-typed token may be a secret's prefix);
* a trailing run of digit groups ("4111 1111 …", "+1 (415) 555-…", "DE89 3704 …"), which may be
  a card, phone or account number whose first groups alone are not recognisable.

A focus change, a click or stopping the recorder releases everything after a final scan. Held
text is never released in part: when text must go before its word is finished (the hold ran out,
a click, a focus change), an unfinished token that could be the start of a secret or PII
(``partial``: a vendor-key prefix, digit groups, an e-mail's local part, a value after a password
prompt…) is redacted whole instead of being written as the first half of a secret.

Keys the window did not echo are a secret: a run of printable keys after which nothing changed in
the window they went to (``echoed``: a password prompt with echo off, whatever command or script
asked for it) is redacted as a password. A click that moves the caret between fields of the same
window puts a field separator (U+001F) into the detector's context, so a short value typed into
the field after a user-name or e-mail field (a login form) is recognised.

For the screen, the guard reports where secrets were typed: ``take_spans`` returns the spans it
redacted (window and key times, never the text) and ``pending`` the held spans that form or may
be forming a finding, so the echo shield can keep their echo out of the frames.

Two texts are scanned: the final text (after BackSpace edits) and everything typed in order,
deleted characters included, so a secret typed and then corrected is still caught. The last
``context_chars`` of released text stay (with redacted characters blanked, never re-emitted) as
detector context, so ``password: ␣hunter2`` or ``sudo …⏎`` followed by a password line are
recognised across a release.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from jobshadow.records import KeyEvent, Redaction, is_modifier_keysym

Record = KeyEvent | Redaction
FIELD_BREAK = "\x1f"
_NUMBER_KINDS = frozenset({"credit_card", "phone", "iban", "us_ssn"})

log = logging.getLogger(__name__)

_BOUNDARY = frozenset(" \n\t")
# A token that may be one group of a card, phone or account number typed with separators.
_NUMERIC_GROUP = re.compile(r"^[+(]?[0-9][0-9().\-/]*$|^[A-Z]{2}[0-9]{2}$|^[A-Z0-9]{4}$")


class FindingLike(Protocol):
    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...

    @property
    def kind(self) -> str: ...


Scanner = Callable[[str], Sequence[FindingLike]]
"""Returns findings; raising means "could not check" and the text is withheld (fail closed)."""

Partial = Callable[[str], FindingLike | None]
"""Given text ending in an unfinished token, the trailing span that may be a secret's start."""

EchoCheck = Callable[[int | None, float, float, float | None, float], bool | None]
"""``(window_id, first, last, after, now)``: did the window show the keys typed from ``first`` to
``last`` (before the key typed at ``after``, if any)? None when it cannot be told."""


@dataclass(frozen=True, slots=True)
class HeldSpan:
    """Where and when keys forming (or maybe forming) a finding were typed; never what."""

    window_id: int | None
    first: float
    last: float
    after: float | None
    kind: str


@dataclass
class _Text:
    """Text rebuilt from key presses, with the event index behind every character."""

    chars: list[str] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)

    def add(self, ch: str, owner: int) -> None:
        self.chars.append(ch)
        self.owners.append(owner)

    def backspace(self) -> None:
        if self.chars:
            self.chars.pop()
            self.owners.pop()

    @property
    def text(self) -> str:
        return "".join(self.chars)


class TypedTextGuard:
    """Not thread-safe: the recorder's writer thread owns it. Times are monotonic seconds."""

    def __init__(
        self,
        scan: Scanner,
        *,
        holdback: float = 0.3,
        max_hold: float = 10.0,
        context_chars: int = 512,
        max_buffer: int = 20_000,
        partial: Partial | None = None,
        echoed: EchoCheck | None = None,
    ) -> None:
        self._scan = scan
        self._partial = partial
        # Set by the owner that knows the screen (the device filter wires the echo shield here).
        self.echoed = echoed
        self.holdback = holdback
        self.max_hold = max_hold
        self.context_chars = context_chars
        self.max_buffer = max_buffer
        self._events: list[KeyEvent] = []
        self._context = ""
        # Keycodes whose press was redacted but whose release has not arrived yet: the release
        # would name the key, so it is dropped when it comes.
        self._orphans: set[int] = set()
        self._spans: list[HeldSpan] = []
        # Kind of a secret whose first part was redacted unfinished: what is typed next, until
        # the token ends, is its rest (never written in clear either).
        self._continues: str | None = None
        self.redactions = 0

    @property
    def held(self) -> int:
        return len(self._events)

    def push(self, ev: KeyEvent) -> list[Record]:
        """Hold a key event; returns records that became safe to write (buffer overflow only)."""
        if ev.kind == "key_release" and ev.keycode in self._orphans:
            self._orphans.discard(ev.keycode)
            return []
        self._events.append(ev)
        if len(self._events) >= self.max_buffer:
            return self.flush(force=True)
        return []

    def tick(self, now: float) -> list[Record]:
        """Release what is due at ``now`` (called regularly by the writer thread)."""
        if not self._events:
            return []
        if now - self._events[0].t >= self.max_hold:
            return self.flush(force=True, now=now)
        return self.flush(force=False, now=now)

    def flush(self, *, force: bool, now: float | None = None) -> list[Record]:
        """Scan and release the buffer; without ``force`` only completed words are released
        (those whose boundary is at least ``holdback`` old when ``now`` is given)."""
        if not self._events:
            return []
        events = self._events
        cut = len(events) if force else self._release_point(events, now)
        if cut == 0:
            return []
        # Scan the whole buffer (so a finding that runs into the held tail is seen whole), but
        # release only up to the cut — moved back to the start of any span that crosses it.
        redacted, spans = self._find(events, now, final=force)
        if not force:
            for first, last, _ in spans:
                if first < cut <= last:
                    cut = first
        release, self._events = events[:cut], events[cut:]
        kinds = {first: kind for first, _, kind in spans if first < cut}
        for first, last, kind in spans:
            if first < cut:
                self._spans.append(self._held_span(events, first, last, kind))
        out = self._emit(release, redacted, kinds)
        self._remember(release, redacted)
        if force:
            final, _ = self._texts(release)
            ends_open = bool(final.chars) and final.chars[-1] not in _BOUNDARY and bool(release) and \
                (len(release) - 1) in redacted
            self._continues = next((k for f, last, k in spans if last >= len(release) - 1), None) \
                if ends_open else None
        elif self._continues is not None and any(e.kind == "key_press" and e.char in _BOUNDARY for e in release):
            self._continues = None
        return out

    def pending(self, now: float) -> list[HeldSpan]:
        """Held spans that form a finding or may be the start of one (for the screen shield).

        The word still being typed is always one: until it is finished nobody can say what it
        becomes (``jane.doe@exa…``), so its echo stays off the frames until it is.
        """
        events = self._events
        if not events:
            return []
        _, spans = self._find(events, now, final=True)
        out = [self._held_span(events, first, last, kind) for first, last, kind in spans]
        final, _ = self._texts(events)
        tail = len(final.chars)
        while tail > 0 and final.chars[tail - 1] not in _BOUNDARY:
            tail -= 1
        if tail < len(final.chars):
            out.append(self._held_span(events, final.owners[tail], final.owners[-1], "unfinished"))
        return out

    def take_spans(self) -> list[HeldSpan]:
        """Spans redacted since the last call."""
        out, self._spans = self._spans, []
        return out

    def field_break(self) -> None:
        """The caret moved to another field of the same window (a click): mark it in the context."""
        if not self._context.endswith(FIELD_BREAK):
            self._context = (self._context + FIELD_BREAK)[-self.context_chars :]

    def discard(self) -> int:
        """Drop everything held (pause, consent withdrawn); nothing of it is written."""
        n = len(self._events)
        self._events = []
        self._context = ""
        return n

    def reset_context(self) -> None:
        """Forget detector context (focus moved to another window)."""
        self._context = ""

    # --- internals -----------------------------------------------------------------------------
    @staticmethod
    def _texts(events: list[KeyEvent]) -> tuple[_Text, _Text]:
        final, raw = _Text(), _Text()
        for i, ev in enumerate(events):
            if ev.kind != "key_press":
                continue
            if ev.char is not None:
                final.add(ev.char, i)
                raw.add(ev.char, i)
            elif ev.keysym_name == "BackSpace":
                final.backspace()
        return final, raw

    def _release_point(self, events: list[KeyEvent], now: float | None) -> int:
        """Index up to which events may be released: after the last old-enough boundary,
        before any trailing run of digit groups."""
        bounds = [i for i, ev in enumerate(events) if ev.kind == "key_press" and ev.char in _BOUNDARY]
        if now is not None:
            bounds = [i for i in bounds if now - events[i].t >= self.holdback]
        if not bounds:
            return 0
        last = bounds[-1]
        final, _ = self._texts(events[: last + 1])
        text = final.text
        # Walk back over complete tokens that look like number groups; hold them with the rest.
        keep_from = len(text)
        tokens = re.findall(r"\S+\s*", text)
        for tok in reversed(tokens):
            if _NUMERIC_GROUP.match(tok.strip()):
                keep_from -= len(tok)
            else:
                break
        if keep_from < len(text):
            if keep_from <= 0:
                return 0
            owner = final.owners[keep_from]  # first event of the held run
            return owner
        # Include the boundary key's release if it already happened.
        code = events[last].keycode
        for j in range(last + 1, len(events)):
            if events[j].kind == "key_release" and events[j].keycode == code:
                return j + 1
            if events[j].kind == "key_press":
                break
        return last + 1

    def _find(self, events: list[KeyEvent], now: float | None, *, final: bool
              ) -> tuple[set[int], list[tuple[int, int, str]]]:
        """Indices of events to drop and the spans ``(first, last, kind)`` they form.

        ``final``: the text is about to be released whole, so an unfinished token at its end is
        checked for being the start of a secret.
        """
        final_text, raw = self._texts(events)
        ctx = self._context
        spans: list[tuple[list[int], str]] = []
        for text in (final_text, raw):
            if not text.chars:
                continue
            try:
                found: list[FindingLike] = list(self._scan(ctx + text.text))
                if final and text is final_text and self._partial is not None:
                    tail = self._partial(ctx + text.text)
                    if tail is not None:
                        found.append(tail)
            except Exception:
                # Fail closed: text the detector could not check is never written.
                log.error("typed-text detector failed; %d characters withheld as unscanned", len(text.chars))
                spans.append((list(text.owners), "unscanned"))
                continue
            for f in found:
                lo, hi = max(f.start - len(ctx), 0), f.end - len(ctx)
                if hi <= 0:
                    continue  # entirely in already-released context
                owners = text.owners[lo:hi]
                if owners:
                    spans.append((owners, f.kind))
        spans += self._silent_runs(events, now)
        if self._continues is not None:
            rest = self._continuation(final_text, self._continues)
            if rest:
                spans.append((rest, self._continues))
        drop: set[int] = set()
        ranges: list[tuple[int, int, str]] = []
        for owners, kind in spans:
            first, last = min(owners), max(owners)
            # Modifier presses right before the span (Shift for a leading capital) go with it.
            while first > 0 and events[first - 1].kind == "key_press" and events[first - 1].char is None \
                    and is_modifier_keysym(events[first - 1].keysym):
                first -= 1
            drop.update(range(first, last + 1))
            ranges.append((first, last, kind))
        if not drop:
            return drop, ranges
        # Keep pairs consistent: a dropped press takes its release with it; a release inside a
        # span whose press was released earlier stays.
        pressed_at: dict[int, int] = {}
        release_of: dict[int, int] = {}
        for i, ev in enumerate(events):
            if ev.kind == "key_press":
                pressed_at[ev.keycode] = i
            else:
                p = pressed_at.pop(ev.keycode, None)
                if p is not None:
                    release_of[p] = i
                if p is not None and p in drop:
                    drop.add(i)
                elif i in drop and (p is None or p not in drop):
                    drop.discard(i)
        # A span ends with the last release of its keys, so the hold-back cut cannot separate
        # a redacted press from its release (the release would name the key).
        ranges = [
            (first, max([last, *(release_of.get(p, last) for p in range(first, last + 1) if p in drop)]), kind)
            for first, last, kind in ranges
        ]
        # One marker per stretch of dropped keys: overlapping spans (a finding inside a silent
        # run) merge, the first kind found at the earliest start naming it.
        ranges.sort()
        merged: list[tuple[int, int, str]] = []
        for first, last, kind in ranges:
            if merged and first <= merged[-1][1]:
                f0, l0, k0 = merged[-1]
                merged[-1] = (f0, max(l0, last), k0)
            else:
                merged.append((first, last, kind))
        return drop, merged

    @staticmethod
    def _continuation(text: _Text, kind: str) -> list[int]:
        """Owners of the leading characters that continue a secret cut off unfinished: up to
        the end of the token, or through further digit groups for a number."""
        numeric = kind in _NUMBER_KINDS
        n = 0
        for ch in text.chars:
            belongs = (ch.isdigit() or ch in " -./()") if numeric else ch not in _BOUNDARY
            if not belongs:
                break
            n += 1
        # A number's trailing separator is not part of it.
        while numeric and n and not text.chars[n - 1].isdigit():
            n -= 1
        return text.owners[:n]

    def _silent_runs(self, events: list[KeyEvent], now: float | None) -> list[tuple[list[int], str]]:
        """Runs of printable keys the window did not echo: typed with echo off, a secret."""
        if self.echoed is None:
            return []
        out: list[tuple[list[int], str]] = []
        run: list[int] = []
        for i, ev in enumerate([*events, None]):
            ends = ev is None or (ev.kind == "key_press" and (ev.char in _BOUNDARY or (
                ev.char is None and not is_modifier_keysym(ev.keysym) and ev.keysym_name != "BackSpace")))
            if ev is not None and not ends:
                if ev.kind == "key_press" and ev.char is not None:
                    run.append(i)
                continue
            if len(run) >= 2:
                first, last = events[run[0]], events[run[-1]]
                after = ev.t if ev is not None else None
                seen = self.echoed(first.window_id, first.t, last.t, after, float("inf") if now is None else now)
                if seen is False:
                    out.append((run, "password"))
            run = []
        return out

    def _held_span(self, events: list[KeyEvent], first: int, last: int, kind: str) -> HeldSpan:
        after = next((ev.t for ev in events[last + 1:] if ev.kind == "key_press"), None)
        return HeldSpan(events[first].window_id, events[first].t, events[last].t, after, kind)

    def _emit(self, events: list[KeyEvent], drop: set[int], kinds: dict[int, str]) -> list[Record]:
        out: list[Record] = []
        down: dict[int, int] = {}
        for i, ev in enumerate(events):
            if i in kinds:
                out.append(Redaction(t=ev.t, finding=kinds[i]))
                self.redactions += 1
            if ev.kind == "key_press":
                down[ev.keycode] = i
            else:
                down.pop(ev.keycode, None)
            if i not in drop:
                out.append(ev)
        self._orphans.update(code for code, i in down.items() if i in drop)
        return out

    def _remember(self, events: list[KeyEvent], drop: set[int]) -> None:
        final, _ = self._texts(events)
        # Redacted characters stay in the context as a placeholder, never as themselves.
        pieces = []
        for ch, owner in zip(final.chars, final.owners, strict=True):
            pieces.append("\u2588" if owner in drop else ch)
        self._context = (self._context + "".join(pieces))[-self.context_chars :]
