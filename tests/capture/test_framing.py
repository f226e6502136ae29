"""The frame planner: before-action stamps, rate caps, settling, segment starts (pure logic)."""

from __future__ import annotations

from jobshadow.capture.framing import ActionClassifier, FramePlanner
from jobshadow.records import KeyEvent, MouseButton, Scroll


def planner() -> FramePlanner:
    return FramePlanner(grab_interval=0.08, change_interval=1.0, settle=0.15)


def test_first_tick_grabs_and_encodes_a_start_frame() -> None:
    p = planner()
    assert p.wants_grab(0.0)
    p.new_grab(0.0, "img0")
    enc = p.due(0.01)
    assert [e.reason for e in enc] == ["start"]


def test_before_action_frame_is_stamped_just_before_the_action_when_screen_unchanged() -> None:
    p = planner()
    p.new_grab(1.0, "img")
    p.due(1.0)
    enc = p.action(5.0)
    assert len(enc) == 1 and enc[0].reason == "before_action"
    assert enc[0].grab.payload == "img"
    assert 5.0 - 0.002 < enc[0].stamp < 5.0


def test_before_action_frame_is_not_stamped_past_the_first_change() -> None:
    p = planner()
    p.new_grab(1.0, "img")
    p.damage(3.0)  # the screen changed at 3.0 and was not grabbed yet
    enc = p.action(3.05)
    assert enc and enc[0].stamp < 3.0
    assert p.wants_grab(3.05)  # and a fresh grab is requested at once


def test_action_uses_the_grab_before_it_when_a_newer_one_exists() -> None:
    p = planner()
    p.new_grab(1.0, "old")
    p.new_grab(2.0, "new")
    enc = p.action(1.5)
    assert enc[0].grab.payload == "old" and enc[0].stamp < 1.5


def test_repeated_actions_without_change_share_a_recent_frame() -> None:
    p = planner()
    p.new_grab(1.0, "img")
    assert p.action(2.0)
    assert not p.action(2.02)  # the frame stamped at ~2.0 is within 50 ms before it
    assert p.action(2.5)


def test_grabs_are_rate_limited_while_the_screen_keeps_changing() -> None:
    p = planner()
    p.new_grab(0.0, "a")
    p.damage(0.01)
    assert not p.wants_grab(0.05)
    assert p.wants_grab(0.08)


def test_changes_are_rate_capped_and_the_settled_screen_is_encoded_once() -> None:
    p = planner()
    p.new_grab(0.0, "a")
    p.due(0.0)  # start
    p.damage(0.5)
    p.new_grab(0.6, "b")
    assert [e.reason for e in p.due(0.6)] == ["change"]  # first change: encoded at once
    p.damage(0.7)
    p.new_grab(0.8, "c")
    assert not p.due(0.85)  # within the 1 s change cap and not settled yet
    enc = p.due(1.0)  # unchanged for 150 ms: settled
    assert [e.reason for e in enc] == ["change"] and enc[0].grab.payload == "c"
    assert not p.due(3.0)  # encoded once


def test_segment_start_re_encodes_the_current_screen() -> None:
    p = planner()
    p.new_grab(0.0, "a")
    p.due(0.0)
    p.segment_started()
    assert [e.reason for e in p.due(10.0)] == ["start"]


def test_history_and_release_before_grab() -> None:
    p = planner()
    p.new_grab(0.0, "a")
    p.new_grab(1.0, "b")
    released = p.before_grab()
    assert [g.payload for g in released] == ["a"]
    _, evicted = p.new_grab(2.0, "c")
    assert not evicted and [g.payload for g in p.history] == ["b", "c"]


def test_classifier() -> None:
    c = ActionClassifier()
    k = lambda t, ch, name=None: KeyEvent(t, "key_press", 1, 0, name or ch or "x", ch, ())  # noqa: E731
    assert c.starts_action(k(0.0, "h"))  # first key of a burst
    assert not c.starts_action(k(0.1, "i"))  # continues the burst
    assert c.starts_action(k(0.2, "\n", "Return"))  # Enter is its own action
    assert c.starts_action(k(0.3, "a"))  # after Enter a new burst starts
    assert not c.starts_action(k(0.4, None, "Shift_L"))  # a modifier alone is not an action
    assert c.starts_action(MouseButton(1.0, "mouse_press", 1, 0, 0))
    assert not c.starts_action(MouseButton(1.1, "mouse_release", 1, 0, 0))
    assert c.starts_action(Scroll(2.0, 0, 0, 0, 1))
    assert not c.starts_action(Scroll(2.1, 0, 0, 0, 1))
    assert c.starts_action(Scroll(3.0, 0, 0, 0, 1))
