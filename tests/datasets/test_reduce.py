"""Action reduction, rule by rule, on synthetic event streams (each threshold on both sides)."""

from __future__ import annotations

from itertools import count

import pytest

from jobshadow.datasets.model import Action, Focus, InputEvent
from jobshadow.datasets.reduce import Thresholds, reduce_events

SEG = "20261122T100000Z-abcdef-0001"


class Stream:
    def __init__(self) -> None:
        self.events: list[InputEvent] = []
        self._seq = count()

    def add(self, t: float, kind: str, **kw: object) -> Stream:
        self.events.append(InputEvent(t=t, kind=kind, seq=next(self._seq), segment_id=SEG, **kw))  # type: ignore[arg-type]
        return self

    def move(self, t: float, x: int, y: int) -> Stream:
        return self.add(t, "mouse_move", x=x, y=y)

    def press(self, t: float, x: int, y: int, button: int = 1) -> Stream:
        return self.add(t, "mouse_press", x=x, y=y, button=button)

    def release(self, t: float, x: int, y: int, button: int = 1) -> Stream:
        return self.add(t, "mouse_release", x=x, y=y, button=button)

    def click(self, t: float, x: int, y: int, button: int = 1, held: float = 0.08) -> Stream:
        return self.press(t, x, y, button).release(t + held, x, y, button)

    def key(self, t: float, name: str, char: str | None = None, mods: tuple[str, ...] = (),
            stream: str = "typing") -> Stream:
        self.add(t, "key_press", keysym_name=name, char=char, modifiers=mods, stream=stream)
        return self.add(t + 0.03, "key_release", keysym_name=name, char=char, modifiers=mods, stream=stream)

    def type(self, t: float, text: str, gap: float = 0.1) -> Stream:
        for i, ch in enumerate(text):
            self.key(t + i * gap, "space" if ch == " " else ch, ch)
        return self

    def scroll(self, t: float, dy: int, x: int = 500, y: int = 500, dx: int = 0) -> Stream:
        return self.add(t, "scroll", x=x, y=y, dx=dx, dy=dy)

    def reduce(self, focus: list[Focus] | None = None, **th: float) -> tuple[list[Action], dict[str, int]]:
        actions, stats = reduce_events(self.events, focus, Thresholds(**th) if th else None)  # type: ignore[arg-type]
        return actions, dict(stats.dropped)


def types(actions: list[Action]) -> list[str]:
    return [a.type for a in actions]


def test_moves_are_not_actions_but_the_trace_of_the_next() -> None:
    s = Stream().move(1.0, 10, 10).move(1.1, 50, 60).move(1.2, 100, 100).click(1.3, 100, 100)
    actions, _ = s.reduce()
    assert types(actions) == ["click"]
    assert [(x, y) for _, x, y in actions[0].trace] == [(10, 10), (50, 60), (100, 100)]
    assert (actions[0].x, actions[0].y) == (100, 100)


@pytest.mark.parametrize("button, kind", [(1, "click"), (2, "middle_click"), (3, "right_click")])
def test_buttons(button: int, kind: str) -> None:
    assert types(Stream().click(1.0, 5, 5, button).reduce()[0]) == [kind]


def test_double_and_triple_click_within_half_a_second_and_four_pixels() -> None:
    s = Stream().click(1.0, 100, 100).click(1.3, 102, 101).click(1.6, 101, 103)
    actions, _ = s.reduce()
    assert types(actions) == ["triple_click"]
    assert actions[0].span is not None and actions[0].span[3] == 5  # spans all six raw events
    assert types(Stream().click(1.0, 100, 100).click(1.3, 102, 101).reduce()[0]) == ["double_click"]


def test_clicks_too_slow_or_too_far_apart_stay_single() -> None:
    assert types(Stream().click(1.0, 100, 100).click(1.51, 100, 100).reduce()[0]) == ["click", "click"]
    assert types(Stream().click(1.0, 100, 100).click(1.2, 105, 100).reduce()[0]) == ["click", "click"]
    assert types(Stream().click(1.0, 100, 100, 3).click(1.6, 100, 100, 3).reduce()[0]) == ["right_click"] * 2


def test_drag_needs_motion_and_more_than_six_pixels() -> None:
    s = Stream().press(1.0, 100, 100).move(1.1, 150, 120).release(1.2, 200, 140)
    actions, _ = s.reduce()
    assert types(actions) == ["drag"]
    assert (actions[0].x, actions[0].y, actions[0].end_x, actions[0].end_y) == (100, 100, 200, 140)
    jitter = Stream().press(1.0, 100, 100).move(1.1, 103, 102).release(1.2, 104, 103).reduce()[0]
    assert types(jitter) == ["click"]


def test_long_press_is_held_more_than_a_second() -> None:
    assert types(Stream().click(1.0, 10, 10, held=1.2).reduce()[0]) == ["long_press"]
    assert types(Stream().click(1.0, 10, 10, held=0.9).reduce()[0]) == ["click"]


def test_consecutive_scrolls_merge_and_zero_deltas_drop() -> None:
    s = Stream().scroll(1.0, 1).scroll(1.2, 1).scroll(1.4, 1).scroll(1.5, 0).click(2.0, 5, 5).scroll(2.5, -2)
    actions, dropped = s.reduce()
    assert types(actions) == ["scroll", "click", "scroll"]
    assert actions[0].dy == 3 and actions[2].dy == -2
    assert dropped == {"zero_scroll": 1}
    assert types(Stream().scroll(1.0, 1).scroll(2.5, 1).reduce()[0]) == ["scroll", "scroll"]  # > 1 s apart


def test_printable_keys_merge_into_one_write_with_backspace_editing_it() -> None:
    s = Stream().type(1.0, "helo").key(1.5, "BackSpace").key(1.6, "BackSpace").type(1.7, "llo world")
    actions, _ = s.reduce()
    assert types(actions) == ["write"]
    assert actions[0].text == "hello world"


def test_backspace_with_nothing_to_edit_is_a_press() -> None:
    assert [a.keys for a in Stream().key(1.0, "BackSpace").reduce()[0]] == [("backspace",)]


def test_enter_and_tab_end_a_write_and_become_presses() -> None:
    s = Stream().type(1.0, "name").key(1.5, "Tab").type(1.6, "pw").key(1.9, "Return")
    actions, _ = s.reduce()
    assert [(a.type, a.text or a.keys) for a in actions] == [
        ("write", "name"), ("press", ("tab",)), ("write", "pw"), ("press", ("enter",))]


def test_modifier_held_with_a_key_is_a_hotkey_and_shift_typing_is_text() -> None:
    s = Stream()
    s.add(1.0, "key_press", keysym_name="Control_L", char=None)
    s.add(1.1, "key_press", keysym_name="s", char=None, modifiers=("ctrl",))
    s.add(1.15, "key_release", keysym_name="s", char=None, modifiers=("ctrl",))
    s.add(1.2, "key_release", keysym_name="Control_L", char=None, modifiers=("ctrl",))
    s.add(1.3, "key_press", keysym_name="Shift_L", char=None)
    s.add(1.4, "key_press", keysym_name="H", char="H", modifiers=("shift",))
    s.add(1.45, "key_release", keysym_name="H", char="H", modifiers=("shift",))
    s.add(1.5, "key_release", keysym_name="Shift_L", char=None, modifiers=("shift",))
    s.add(1.6, "key_press", keysym_name="Tab", char=None, modifiers=("shift",))
    s.add(1.65, "key_release", keysym_name="Tab", char=None, modifiers=("shift",))
    actions, _ = s.reduce()
    assert [(a.type, a.text or a.keys) for a in actions] == [
        ("hotkey", ("ctrl", "s")), ("write", "H"), ("hotkey", ("shift", "tab"))]


def test_a_modifier_alone_is_flagged_for_removal() -> None:
    actions, _ = Stream().key(1.0, "Control_L").reduce()
    assert types(actions) == ["press"] and "modifier_only" in actions[0].flags


def test_redaction_markers_stay_placeholders() -> None:
    s = Stream().type(1.0, "key ").add(1.5, "redaction", finding="aws_access_key").type(1.6, " ok")
    actions, _ = s.reduce()
    assert actions[0].text == "key <redacted:aws_access_key> ok" and "redacted" in actions[0].flags


def test_a_write_ends_at_a_focus_change_and_after_a_typing_pause() -> None:
    s = Stream().type(1.0, "ab").type(3.0, "cd")
    actions, _ = s.reduce(focus=[Focus(2.0, "Xedit", "doc")])
    assert [a.text for a in actions] == ["ab", "cd"]
    assert [a.text for a in Stream().type(1.0, "ab").type(7.0, "cd").reduce()[0]] == ["ab", "cd"]
    assert [a.text for a in Stream().type(1.0, "ab").type(4.0, "cd").reduce()[0]] == ["abcd"]


def test_all_erased_text_is_an_empty_write() -> None:
    actions, _ = Stream().type(1.0, "x").key(1.2, "BackSpace").key(1.3, "Return").reduce()
    assert types(actions) == ["write", "press"] and "empty" in actions[0].flags


def test_unpaired_and_non_monotonic_events_are_dropped_and_counted() -> None:
    s = Stream().release(1.0, 5, 5).press(1.1, 5, 5).click(1.5, 9, 9).move(1.4, 1, 1)
    s.add(1.6, "key_release", keysym_name="a", char="a")
    s.press(2.0, 7, 7)  # never released
    actions, dropped = s.reduce()
    assert types(actions) == ["click"]  # only the properly paired one
    assert dropped == {"unpaired": 4, "non_monotonic": 1}


def test_ai_prompt_writes_are_flagged() -> None:
    s = Stream()
    for i, ch in enumerate("hi"):
        s.key(1.0 + i * 0.1, ch, ch, stream="ai_prompt")
    actions, _ = s.reduce()
    assert actions[0].text == "hi" and "ai_prompt" in actions[0].flags


def test_scrolls_that_merge_to_nothing_are_dropped_and_counted() -> None:
    actions, dropped = Stream().scroll(1.0, 2).scroll(1.2, -2).click(3.0, 5, 5).reduce()
    assert types(actions) == ["click"]
    assert dropped["zero_scroll"] == 1


def test_a_modifier_held_over_a_click_stays_with_the_click() -> None:
    s = Stream().add(1.0, "key_press", keysym_name="Control_L")
    s.add(1.1, "mouse_press", x=10, y=10, button=1, modifiers=("ctrl",))
    s.add(1.2, "mouse_release", x=10, y=10, button=1, modifiers=("ctrl",))
    s.add(1.3, "key_release", keysym_name="Control_L", modifiers=("ctrl",))
    actions, _ = s.reduce()
    assert types(actions) == ["click"] and actions[0].keys == ("ctrl",)
    from jobshadow.datasets.canonical import pyautogui_code
    from jobshadow.datasets.model import Observation, Step

    step = Step("t", 0, actions[0], Observation(None, None, None, None, None, None), (100, 100), [])
    assert pyautogui_code(step, normalised=False) == (
        "pyautogui.keyDown('ctrl')\npyautogui.click(x=10, y=10)\npyautogui.keyUp('ctrl')")


def test_right_and_middle_buttons_double_click_too() -> None:
    actions, _ = Stream().click(1.0, 10, 10, button=3).click(1.3, 11, 10, button=3).reduce()
    assert types(actions) == ["double_click"] and actions[0].button == 3
    actions, _ = Stream().click(1.0, 10, 10, button=1).click(1.3, 10, 10, button=3).reduce()
    assert types(actions) == ["click", "right_click"]  # another button is another click


def test_keys_pressed_and_never_released_are_unpaired() -> None:
    s = Stream().add(1.0, "key_press", keysym_name="a", char="a")
    _, dropped = s.reduce()
    assert dropped["unpaired"] == 1


def test_a_drag_s_path_is_not_the_next_action_s_trace() -> None:
    s = Stream().press(1.0, 10, 10).move(1.1, 60, 60).move(1.2, 100, 100).release(1.3, 100, 100)
    s.move(2.0, 300, 300).click(2.1, 300, 300)
    actions, _ = s.reduce()
    assert types(actions) == ["drag", "click"]
    assert [(x, y) for _, x, y in actions[1].trace] == [(300, 300)]
