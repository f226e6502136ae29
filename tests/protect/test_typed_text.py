"""The typed-text guard with the real detector: what reaches the spool, and when."""

from __future__ import annotations

from jobshadow.protect.typed_text import TypedTextGuard
from jobshadow.records import KeyEvent, Redaction
from jobshadow.sensitive import scan


class Typist:
    """Makes press/release pairs like the recorder does, with a clock."""

    def __init__(self) -> None:
        self.t = 100.0
        self.codes: dict[str, int] = {}

    def key(self, ch: str | None, name: str | None = None, mods: tuple[str, ...] = ()) -> list[KeyEvent]:
        label = name or ch or "?"
        code = self.codes.setdefault(label, 10 + len(self.codes))
        self.t += 0.05
        press = KeyEvent(self.t, "key_press", code, ord(ch) if ch and len(ch) == 1 else 0, label, ch, mods, 1)
        self.t += 0.02
        release = KeyEvent(self.t, "key_release", code, press.keysym, label, ch, mods, 1)
        return [press, release]

    def text(self, s: str) -> list[KeyEvent]:
        out: list[KeyEvent] = []
        for ch in s:
            if ch == "\b":
                out += self.key(None, "BackSpace")
            elif ch.isupper():
                shift = self.codes.setdefault("Shift_L", 5)
                self.t += 0.01
                out.append(KeyEvent(self.t, "key_press", shift, 0xFFE1, "Shift_L", None, (), 1))
                out += self.key(ch, mods=("shift",))
                self.t += 0.01
                out.append(KeyEvent(self.t, "key_release", shift, 0xFFE1, "Shift_L", None, ("shift",), 1))
            else:
                out += self.key(ch)
        return out


def run(guard: TypedTextGuard, events: list[KeyEvent], end: float | None = None) -> list[KeyEvent | Redaction]:
    out: list[KeyEvent | Redaction] = []
    for e in events:
        out += guard.push(e)
        out += guard.tick(e.t)
    out += guard.tick((end or events[-1].t) + 0.5)
    out += guard.flush(force=True)
    return out


def text_of(records: list[KeyEvent | Redaction]) -> str:
    chars = []
    for r in records:
        if isinstance(r, Redaction):
            chars.append(f"[{r.finding}]")
        elif r.kind == "key_press" and r.char is not None:
            chars.append(r.char)
        elif r.kind == "key_press" and r.keysym_name == "BackSpace" and chars:
            chars.pop()
    return "".join(chars)


def test_plain_text_passes_unchanged() -> None:
    ev = Typist().text("meeting at noon, see the roadmap doc\n")
    out = run(TypedTextGuard(scan), ev)
    assert out == ev


def test_secret_becomes_one_marker_and_nothing_of_it_survives() -> None:
    secret = "AKIAZ4QXW7PLM3NRT2VB"
    ev = Typist().text(f"export KEY={secret} done\n")
    out = run(TypedTextGuard(scan), ev)
    redactions = [r for r in out if isinstance(r, Redaction)]
    assert [r.finding for r in redactions] == ["aws_access_key"]
    kept_chars = "".join(r.char or "" for r in out if isinstance(r, KeyEvent) and r.kind == "key_press")
    assert secret not in kept_chars and "Z4QXW7" not in kept_chars
    # Presses and releases stay paired.
    downs = [r.keycode for r in out if isinstance(r, KeyEvent) and r.kind == "key_press"]
    ups = [r.keycode for r in out if isinstance(r, KeyEvent) and r.kind == "key_release"]
    assert sorted(downs) == sorted(ups)
    # Shift presses for the secret's capitals are gone; those for "KEY" remain.
    shift_presses = [r for r in out if isinstance(r, KeyEvent) and r.keysym_name == "Shift_L" and r.kind == "key_press"]
    assert len(shift_presses) == 3


def test_password_after_a_sudo_prompt_is_redacted_across_a_release() -> None:
    t = Typist()
    ev = t.text("sudo apt update\n")
    t.t += 3.0  # the person waits for the prompt; the first line is released meanwhile
    ev += t.text("hunter2correct\n")
    out = run(TypedTextGuard(scan), ev)
    assert text_of(out) == "sudo apt update\n[password]\n"


def test_secret_typed_then_corrected_is_still_caught() -> None:
    ev = Typist().text("token ghp_16C7e42F292c6912E7710c838347Ae178B4a\b\bxy ok\n")
    out = run(TypedTextGuard(scan), ev)
    assert "[github_token]" in text_of(out)


def test_completed_words_are_released_quickly_and_the_partial_word_is_held() -> None:
    guard = TypedTextGuard(scan, holdback=0.3, max_hold=10.0)
    t = Typist()
    released: list[KeyEvent | Redaction] = []
    for e in t.text("hello world ghp_abc"):
        released += guard.push(e)
        released += guard.tick(e.t)
    released += guard.tick(t.t + 0.5)
    assert text_of(released) == "hello world "
    assert guard.held > 0


def test_digit_groups_are_held_until_the_number_ends() -> None:
    guard = TypedTextGuard(scan, holdback=0.3, max_hold=10.0)
    t = Typist()
    released: list[KeyEvent | Redaction] = []
    for e in t.text("card 4111 1111 "):
        released += guard.push(e)
        released += guard.tick(e.t)
    released += guard.tick(t.t + 1.0)
    assert text_of(released) == "card "  # "4111 1111" may be the start of a card number
    for e in t.text("1111 1111 thanks "):
        released += guard.push(e)
        released += guard.tick(e.t)
    released += guard.flush(force=True)
    assert text_of(released) == "card [credit_card] thanks "


def test_max_hold_bounds_the_delay() -> None:
    guard = TypedTextGuard(scan, holdback=0.3, max_hold=2.0)
    ev = Typist().text("unfinished")
    for e in ev:
        guard.push(e)
    assert guard.tick(ev[-1].t + 0.5) == []
    assert text_of(guard.tick(ev[0].t + 2.1)) == "unfinished"


def test_release_of_a_redacted_key_arriving_later_is_dropped() -> None:
    guard = TypedTextGuard(scan)
    ev = Typist().text("key AKIAZ4QXW7PLM3NRT2VB")
    last_release = ev.pop()  # the final key is still down when focus moves away
    out = []
    for e in ev:
        out += guard.push(e)
    out += guard.flush(force=True)
    assert guard.push(last_release) == []


def test_discard_drops_everything_held() -> None:
    guard = TypedTextGuard(scan)
    for e in Typist().text("never written"):
        guard.push(e)
    assert guard.discard() > 0
    assert guard.flush(force=True) == []


def test_a_failing_detector_withholds_the_text() -> None:
    def broken(text: str) -> list[object]:
        raise RuntimeError("detector bug")

    out = run(TypedTextGuard(broken), Typist().text("hello there\n"))  # type: ignore[arg-type]
    assert text_of(out) == "[unscanned]"
    assert not [r for r in out if isinstance(r, KeyEvent) and r.char]


def test_strict_scan_raises_instead_of_skipping(monkeypatch: object) -> None:
    import pytest

    from jobshadow.sensitive import DetectorFailed, _engine

    def boom(st: object) -> list[object]:
        raise ValueError("bug")

    mp = pytest.MonkeyPatch()
    mp.setattr(_engine, "DETECTORS", (boom, *_engine.DETECTORS))
    try:
        assert scan("mail a@b.co")  # lenient: other detectors still report
        with pytest.raises(DetectorFailed):
            scan("mail a@b.co", strict=True)
    finally:
        mp.undo()


def test_keys_the_window_did_not_echo_are_a_password_whatever_came_before() -> None:
    t = Typist()
    ev = t.text("ls\n")
    silent_from = t.t
    ev += t.text("Tr0ub4dor3xyz\n")  # typed at a prompt that shows nothing (echo off)
    silent_to = t.t
    ev += t.text("echo done\n")

    def echoed(window: int | None, first: float, last: float, after: float | None, now: float) -> bool | None:
        return not (silent_from < first and last <= silent_to)

    out = run(TypedTextGuard(scan, echoed=echoed), ev)
    assert text_of(out) == "ls\n[password]\necho done\n"
    # Without echo information the same keys pass (nothing says they were hidden).
    assert "Tr0ub4dor3xyz" in text_of(run(TypedTextGuard(scan, echoed=lambda *a: None), Typist().text(
        "ls\nTr0ub4dor3xyz\n")))


def test_redacted_spans_are_reported_with_window_and_times_only() -> None:
    guard = TypedTextGuard(scan)
    ev = Typist().text("export KEY=AKIAZ4QXW7PLM3NRT2VB done\n")
    run(guard, ev)
    spans = guard.take_spans()
    assert len(spans) == 1 and spans[0].kind == "aws_access_key"
    key_presses = [e for e in ev if e.kind == "key_press" and e.char]
    secret_keys = key_presses[11:31]
    assert spans[0].first <= secret_keys[0].t and spans[0].last >= secret_keys[-1].t
    assert spans[0].after is not None and spans[0].after > secret_keys[-1].t
    assert spans[0].window_id == 1
    assert guard.take_spans() == []


def test_pending_names_a_secret_while_it_is_still_held() -> None:
    guard = TypedTextGuard(scan)
    for e in Typist().text("key AKIAZ4QXW7PLM3NRT2VB"):
        guard.push(e)
    pending = guard.pending(200.0)
    # The key is a finding; the token is also still being typed (no space after it yet).
    assert [p.kind for p in pending] == ["aws_access_key", "unfinished"]
    assert guard.pending(200.0) == pending  # asking does not release or change anything
    guard.discard()
    assert guard.pending(200.0) == []


def test_an_unfinished_token_that_may_start_a_secret_is_redacted_whole_when_time_runs_out() -> None:
    class Tail:
        start, end, kind = 0, 0, ""

    def partial(text: str) -> Tail | None:
        if text.endswith("AKIAZ4QXW7"):
            tail = Tail()
            tail.start, tail.end, tail.kind = len(text) - 10, len(text), "aws_access_key"
            return tail
        return None

    guard = TypedTextGuard(scan, holdback=0.3, max_hold=2.0, partial=partial)  # type: ignore[arg-type]
    ev = Typist().text("key AKIAZ4QXW7")
    for e in ev:
        guard.push(e)
    out = guard.tick(ev[0].t + 2.1)
    assert text_of(out) == "key [aws_access_key]"
    assert "Z4QXW7" not in "".join(e.char or "" for e in out if isinstance(e, KeyEvent))


def test_a_click_between_fields_marks_a_field_break_in_the_context() -> None:
    seen: list[str] = []

    def spy(text: str) -> list[object]:
        seen.append(text)
        return []

    guard = TypedTextGuard(spy)  # type: ignore[arg-type]
    t = Typist()
    for e in t.text("alice"):
        guard.push(e)
    guard.flush(force=True)
    guard.field_break()
    guard.field_break()  # one break however many clicks
    for e in t.text("pw"):
        guard.push(e)
    guard.flush(force=True)
    assert seen[-1].endswith("alice\x1fpw")


def test_what_follows_a_secret_cut_off_unfinished_is_its_rest_and_is_redacted_too() -> None:
    from jobshadow.sensitive import partial

    guard = TypedTextGuard(scan, holdback=0.3, max_hold=1.0, partial=partial)
    t = Typist()
    out: list[KeyEvent | Redaction] = []
    for chunk in ("key AKIAZ4QXW7", "PLM3NRT2VB and card 4111 1111", " 1111 1111 done\n"):
        for e in t.text(chunk):
            out += guard.push(e)
            out += guard.tick(e.t)
        t.t += 2.0  # interrupted longer than the hold time
        out += guard.tick(t.t)
    out += guard.flush(force=True)
    text = text_of(out)
    assert text.startswith("key [aws_access_key]") and text.endswith("done\n"), text
    for half in ("Z4QXW7", "PLM3NRT2VB", "4111", "1111"):
        assert half not in text, text
    assert "and card" in text  # ordinary words after the rest are written
