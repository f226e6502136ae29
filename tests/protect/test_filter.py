"""The device filter without X: scope, titles through the detector, echo spans becoming taints."""

from __future__ import annotations

from jobshadow.capture.backend import DamageNotice, InputFocusNotice
from jobshadow.config import ScopeSettings
from jobshadow.protect.filter import DeviceFilter
from jobshadow.protect.scope import ScopePolicy
from jobshadow.protect.titles import redact_title
from jobshadow.protect.typed_text import TypedTextGuard
from jobshadow.records import FocusChange, KeyEvent, MouseButton, Rect, Redaction, WindowInfo
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
