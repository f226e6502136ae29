"""Observations, tasks, waits and exports' code strings on synthetic sessions."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from jobshadow.datasets.canonical import pyautogui_code
from jobshadow.datasets.model import Focus, FrameRef, MarkerEvent, SegmentData
from jobshadow.datasets.quality import filter_steps
from jobshadow.datasets.trajectory import TaskThresholds, build_session
from tests.datasets.test_reduce import SEG, Stream

WINDOWS = ({"window_id": 1, "wm_class": "XTerm", "outer": {"x": 0, "y": 0, "width": 800, "height": 600},
            "in_scope": True, "masked": False},
           {"window_id": 2, "wm_class": "Xedit", "outer": {"x": 400, "y": 300, "width": 800, "height": 600},
            "in_scope": True, "masked": False})


def segment(stream: Stream, frames: list[float], focus: list[Focus] | None = None,
            markers: list[MarkerEvent] | None = None) -> SegmentData:
    return SegmentData(SEG, "abcdef", 1, 1.7e9, (1920, 1080), [], stream.events,
                       focus if focus is not None else [Focus(0.0, "XTerm", "notes", 1, (0, 0, 800, 600))],
                       [FrameRef(t, SEG, i, 1920, 1080, "change", WINDOWS) for i, t in enumerate(frames)],
                       markers or [], lambda: [])


def test_each_step_shows_the_last_frame_at_or_before_it_never_after() -> None:
    s = Stream().click(1.0, 100, 100).click(2.0, 500, 400).type(3.0, "abc")
    result = build_session([segment(s, [0.5, 0.99, 1.0, 1.05, 1.5, 2.5, 3.0, 4.0])])
    (task,) = result.tasks
    frames = [(st.action.type, st.observation.frame.t if st.observation.frame else None) for st in task.steps]
    assert frames == [("click", 1.0), ("click", 1.5), ("write", 3.0), ("terminate", 4.0)]
    assert task.steps[0].after_frame is not None and task.steps[0].after_frame.t == 1.5  # after release (1.08)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 20, allow_nan=False), min_size=1, max_size=40),
       st.lists(st.floats(0.5, 19, allow_nan=False), min_size=1, max_size=10, unique=True))
def test_no_observation_is_ever_from_after_its_action(frame_times: list[float], click_times: list[float]) -> None:
    s = Stream()
    for t in sorted(click_times):
        s.click(t, 10, 10)
    result = build_session([segment(s, sorted(frame_times))])
    for task in result.tasks:
        for step in task.steps:
            if step.action.type != "terminate" and step.observation.frame is not None:
                assert step.observation.frame.t <= step.action.t_start


def test_the_target_is_the_topmost_window_under_the_pointer() -> None:
    s = Stream().click(1.0, 500, 400).click(3.0, 100, 100)
    (task,) = build_session([segment(s, [0.5, 2.0])]).tasks
    assert task.steps[0].observation.target_rect == (400, 300, 800, 600)  # Xedit is on top there
    assert task.steps[1].observation.target_rect == (0, 0, 800, 600)


def test_markers_define_tasks_with_their_titles() -> None:
    s = Stream().click(1.0, 5, 5).click(2.0, 5, 5).click(10.0, 5, 5)
    markers = [MarkerEvent(0.5, "task_start", "file the report"), MarkerEvent(2.5, "task_end"),
               MarkerEvent(9.0, "task_start", "answer mail")]
    tasks = build_session([segment(s, [0.1, 1.5, 2.2, 9.5, 11.0], markers=markers)]).tasks
    assert [(t.title, t.source, len(t.steps)) for t in tasks] == [("file the report", "marker", 3),
                                                                  ("answer mail", "marker", 2)]


def test_without_markers_idle_gaps_and_lasting_app_switches_split_tasks() -> None:
    s = Stream().click(1.0, 5, 5).click(2.0, 5, 5).click(100.0, 5, 5).click(101.0, 5, 5).click(200.0, 5, 5)
    focus = [Focus(0.0, "XTerm", "t", 1), Focus(150.0, "Xedit", "doc", 2), Focus(190.0, "Xedit", "doc", 2)]
    tasks = build_session([segment(s, [0.5, 1.5, 99.0, 150.5, 199.0], focus=focus)]).tasks
    assert [len(t.steps) - 1 for t in tasks] == [2, 2, 1]  # idle gap at 2→100 s; app switch to Xedit at 150 s
    assert tasks[2].apps == ["Xedit"]
    brief = [Focus(0.0, "XTerm", "t", 1), Focus(1.5, "Xcalc", "c", 3), Focus(1.8, "XTerm", "t", 1)]
    s2 = Stream().click(1.0, 5, 5).click(1.6, 5, 5).click(2.0, 5, 5)
    assert len(build_session([segment(s2, [0.5], focus=brief)]).tasks) == 1  # a glance at another app


def test_a_pause_while_the_screen_changes_is_a_wait() -> None:
    s = Stream().click(1.0, 5, 5).click(6.0, 5, 5).click(7.0, 5, 5)
    (task,) = build_session([segment(s, [0.5, 3.0, 6.5])], task_thresholds=TaskThresholds(wait_gap_s=3.0)).tasks
    assert [st.action.type for st in task.steps] == ["click", "wait", "click", "click", "terminate"]
    still = build_session([segment(s, [0.5, 6.5])]).tasks[0]
    assert "wait" not in [st.action.type for st in still.steps]  # nothing changed: no need to wait


def test_steps_without_a_frame_or_off_screen_are_removed_and_counted() -> None:
    s = Stream().click(1.0, 5, 5).click(2.0, 5000, 5).click(3.0, 7, 7)
    tasks, report = filter_steps(build_session([segment(s, [1.5, 3.5])]).tasks)
    assert report.removed == {"no_frame": 1, "out_of_range": 1}
    assert [st.action.x for st in tasks[0].steps] == [7, None]


def test_code_strings_normalise_to_four_decimals() -> None:
    s = Stream().click(1.0, 960, 541).type(2.0, "it's").key(3.0, "Return").scroll(4.0, 2, 100, 200)
    (task,) = build_session([segment(s, [0.5, 1.5, 2.5, 3.5, 4.5])]).tasks
    codes = [pyautogui_code(st, normalised=True) for st in task.steps]
    assert codes == ["pyautogui.click(x=0.5000, y=0.5009)", 'pyautogui.write("it\'s")', "pyautogui.press('enter')",
                     "pyautogui.scroll(-2, x=0.0521, y=0.1852)", "DONE"]
    assert pyautogui_code(task.steps[0], normalised=False) == "pyautogui.click(x=960, y=541)"


def test_a_task_s_final_frame_never_comes_from_the_next_task() -> None:
    s = Stream().click(1.0, 5, 5).click(200.0, 5, 5)  # an idle gap splits two tasks
    tasks = build_session([segment(s, [0.5, 1.5, 150.0, 199.0, 250.0])]).tasks
    assert len(tasks) == 2
    first_final = tasks[0].steps[-1]
    assert first_final.action.type == "terminate"
    assert first_final.observation.frame is not None and first_final.observation.frame.t < 200.0
    assert tasks[1].steps[-1].observation.frame is not None and tasks[1].steps[-1].observation.frame.t == 250.0


def test_the_frame_after_a_click_is_from_before_the_next_action() -> None:
    s = Stream().click(1.0, 5, 5).type(1.5, "abc")
    (task,) = build_session([segment(s, [0.5, 3.0])]).tasks
    assert task.steps[0].after_frame is None  # the only later frame follows the typing


def test_steps_on_jobshadow_s_own_windows_are_removed() -> None:
    s = Stream().click(1.0, 5, 5).click(2.0, 5, 5)
    own = [Focus(0.0, "XTerm", "notes", 1, (0, 0, 800, 600)), Focus(1.5, "jobshadow", "review", 3, (0, 0, 9, 9))]
    result = build_session([segment(s, [0.5, 1.8, 3.0], focus=own)], task_thresholds=TaskThresholds(app_switch_min_s=0))
    kept, report = filter_steps(result.tasks)
    assert report.removed["own_window"] >= 1
    assert all(st.observation.app != "jobshadow" for t in kept for st in t.steps)


def test_hf_shards_roll_over_at_the_size_limit_and_keep_every_row(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from jobshadow.datasets.writers import write_hf

    s = Stream()
    for i in range(12):
        s.click(1.0 + i, 5 + i, 5)
    tasks, _ = filter_steps(build_session([segment(s, [0.5 + i for i in range(14)])]).tasks)
    for t in tasks:
        for st_ in t.steps:
            st_.image = bytes([st_.index]) * 3000
    written = write_hf(tasks, tmp_path, "jpeg", shard_bytes=12_000)
    shards = [f for f in written.files if f.startswith("data/")]
    # Each shard reports the tasks whose rows it holds (the registry maps those to people).
    assert all(written.holdings[f] for f in shards)
    assert set().union(*(written.holdings[f] for f in shards)) == {t.task_id for t in tasks}
    assert len(shards) >= 3 and shards[0].endswith(f"-of-{len(shards):05d}.parquet")
    rows = pq.read_table(tmp_path / "data").to_pylist()
    assert len(rows) == sum(len(t.steps) for t in tasks)
    for f in shards:  # every shard within the limit (the first row of a shard excepted)
        assert (tmp_path / f).stat().st_size < 12_000 + 3000 + 20_000


def test_a_damaged_video_stream_is_reported_not_raised() -> None:
    from jobshadow.datasets.frames import FrameJob, render

    garbage = b"\x00\x00\x00\x01\x65" + bytes(range(256)) * 8
    result = render(FrameJob(SEG, [(1, garbage), (2, garbage)], images=[1, 2], fingerprints=[2]))
    assert result.missing == [1, 2] and result.images == {}
