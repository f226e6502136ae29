"""The device filter without X: scope, titles through the detector, echo spans becoming taints."""

from __future__ import annotations

from jobshadow.capture.backend import DamageNotice, InputFocusNotice
from jobshadow.config import ScopeSettings
from jobshadow.protect.filter import DeviceFilter
from jobshadow.protect.scope import ScopePolicy
from jobshadow.protect.titles import redact_title
from jobshadow.protect.typed_text import TypedTextGuard
from jobshadow.records import FocusChange, KeyEvent, MouseButton, MouseMove, Rect, Redaction, Scroll, WindowInfo
from jobshadow.sensitive import scan
from tests.protect.test_typed_text import Typist

WORK = WindowInfo(1, "work", "XTerm", "work", 10, "bash", Rect(0, 0, 600, 400), Rect(0, 0, 600, 420))
OTHER = WindowInfo(2, "signal", "Signal", "Signal: Alice", 11, "signal", Rect(700, 0, 300, 300))


class Windows:
    def __init__(self, *infos: WindowInfo) -> None:
        self.infos = {i.window_id: i for i in infos}

    def window(self, window_id: int) -> WindowInfo | None:
        return self.infos.get(window_id)

    def window_at(self, x: int, y: int) -> WindowInfo | None:
        for i in self.infos.values():
            if i.outer.contains(x, y):
                return i
        return None

    def outer(self, window_id: int) -> Rect | None:
        info = self.infos.get(window_id)
        return info.outer if info else None


def make() -> DeviceFilter:
    policy = ScopePolicy(ScopeSettings(allow_apps=("work",)))
    return DeviceFilter(policy, Windows(WORK, OTHER), TypedTextGuard(scan))


def test_titles_pass_the_detector_before_they_are_written() -> None:
    flt = make()
    title = "bash: export AWS_ACCESS_KEY_ID=AKIAZ4QXW7PLM3NRT2VB; mail jane.doe@example.com"
    out = flt.apply(FocusChange(1.0, WindowInfo(1, "work", "XTerm", title, 10, "bash", WORK.geometry)))
    written = out[0].record
    assert isinstance(written, FocusChange) and written.window is not None
    assert "AKIA" not in written.window.title and "jane.doe" not in written.window.title
    assert written.window.title == ("bash: export AWS_ACCESS_KEY_ID=[REDACTED:aws_access_key]; "
                                    "mail [REDACTED:email]")
    # An out-of-scope window is not named at all.
    out = flt.apply(FocusChange(2.0, OTHER))
    assert isinstance(out[0].record, FocusChange) and out[0].record.window is None


def test_a_title_the_detector_cannot_check_is_withheld(monkeypatch: object) -> None:
    import pytest

    from jobshadow.sensitive import _engine

    def boom(st: object) -> list[object]:
        raise ValueError("bug")

    mp = pytest.MonkeyPatch()
    mp.setattr(_engine, "DETECTORS", (boom, *_engine.DETECTORS))
    try:
        assert redact_title("quarterly report.ods") == "[REDACTED:unscanned]"
    finally:
        mp.undo()


def test_a_redacted_secret_becomes_a_taint_where_its_echo_was() -> None:
    flt = make()
    flt.apply(InputFocusNotice(0.5, 1))
    t = Typist()
    t.t = 10.0
    out = []
    for i, e in enumerate(t.text("key AKIAZ4QXW7PLM3NRT2VB ok\n")):
        out += flt.apply(e)
        if e.kind == "key_press":
            flt.apply(DamageNotice(e.t + 0.002, Rect(3 + 6 * i, 20, 6, 13)))
    out += flt.tick(t.t + 1.0)
    assert [r.record.finding for r in out if isinstance(r.record, Redaction)] == ["aws_access_key"]
    assert flt.shield.taints == 1
    # Keys of an out-of-scope window never reach the guard, so never the shield either.
    flt.apply(InputFocusNotice(20.0, 2))
    for e in t.text("AKIAZ4QXW7PLM3NRT2VC\n"):
        assert flt.apply(KeyEvent(e.t, e.kind, e.keycode, e.keysym, e.keysym_name, e.char, e.modifiers, 2)) == []
    assert flt.shield.taints == 1


def test_a_click_in_the_same_window_starts_a_new_field() -> None:
    flt = make()
    flt.apply(InputFocusNotice(0.5, 1))
    t = Typist()
    for e in t.text("alice"):
        flt.apply(e)
    flt.apply(MouseButton(t.t + 0.1, "mouse_press", 1, 50, 50))
    assert flt.guard._context.endswith("alice\x1f")


def test_pointer_events_are_kept_only_over_an_in_scope_window() -> None:
    flt = make()
    assert [r.record for r in flt.apply(MouseMove(1.0, 50, 50))] == [MouseMove(1.0, 50, 50)]
    assert flt.apply(MouseMove(1.1, 800, 50)) == []  # over Signal
    assert flt.apply(Scroll(1.2, 800, 50, 0, 1)) == []
    assert flt.apply(MouseMove(1.3, 1500, 900)) == []  # the desktop: nothing in scope
    assert flt.suppressed == {"mouse_move": 2, "scroll": 1}


def test_a_button_release_follows_the_fate_of_its_press() -> None:
    flt = make()
    # Pressed in scope, released over an excluded window (a drag): the pair stays whole.
    assert len(flt.apply(MouseButton(1.0, "mouse_press", 1, 50, 50))) == 1
    assert len(flt.apply(MouseButton(1.2, "mouse_release", 1, 800, 50))) == 1
    # Pressed over the excluded window, released in scope: neither is kept.
    assert flt.apply(MouseButton(2.0, "mouse_press", 1, 800, 50)) == []
    assert flt.apply(MouseButton(2.2, "mouse_release", 1, 50, 50)) == []


def test_a_stream_the_scope_leaves_out_is_not_recorded_at_all() -> None:
    flt = make()
    flt.streams = frozenset({"keyboard", "screen"})
    flt.apply(InputFocusNotice(0.5, 1))
    assert flt.apply(MouseMove(1.0, 50, 50)) == [] and flt.apply(FocusChange(1.1, WORK)) == []
    assert flt.suppressed == {"stream_mouse": 1, "stream_window": 1}


def test_focus_out_of_scope_is_written_once_and_names_nothing() -> None:
    flt = make()
    first = flt.apply(FocusChange(1.0, OTHER))
    assert [r.record for r in first] == [FocusChange(1.0, None)]
    assert flt.apply(FocusChange(2.0, OTHER)) == []  # still out of scope: nothing changed we may record
    back = flt.apply(FocusChange(3.0, WORK))
    assert isinstance(back[0].record, FocusChange) and back[0].record.window == WORK


def test_keyboard_focus_moving_releases_held_text_checked() -> None:
    flt = make()
    flt.apply(InputFocusNotice(0.5, 1))
    t = Typist()
    out = []
    for e in t.text("unfinished"):
        out += flt.apply(e)
    assert flt.guard.held > 0 and not [r for r in out if isinstance(r.record, KeyEvent)]
    out += flt.apply(InputFocusNotice(t.t + 0.1, 2))  # the keys' window lost focus: the word is complete
    assert flt.guard.held == 0
    assert "".join(r.record.char or "" for r in out if isinstance(r.record, KeyEvent)
                   and r.record.kind == "key_press") == "unfinished"


def test_discarding_drops_held_keys_and_taints() -> None:
    flt = make()
    flt.apply(InputFocusNotice(0.5, 1))
    for e in Typist().text("half"):
        flt.apply(e)
    assert flt.discard() > 0
    assert flt.guard.held == 0 and flt.flush() == []
