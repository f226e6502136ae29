"""The recorder on a real X server: completeness, text, windows, frames, rotation, crash, pause.

Every test starts its own Xvfb + openbox, drives real X applications with xdotool, runs the real
`jobshadow record start` process, and reads the result back through `segments inspect/export`.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from jobshadow.testing.poll import wait_for
from jobshadow.testing.xdesktop import Desktop, xterm
from tests.recording import (
    RecorderProcess,
    all_events,
    cli,
    cli_json,
    export_all,
    jobshadow_env,
    read_jsonl,
    segments,
    typed_text,
)

pytestmark = [pytest.mark.x11, pytest.mark.slow]

ALLOW_XTERM = '["xterm"]'


def start(desktop: Desktop, home: Path, **settings: str) -> tuple[RecorderProcess, dict[str, str]]:
    env = jobshadow_env(home, desktop.display, capture__scope__allow_apps=ALLOW_XTERM, **settings)
    assert cli(env, "consent", "give", "--yes").returncode == 0
    return RecorderProcess(env).ready(), env


def summed_inspect(env: dict[str, str]) -> dict[str, int]:
    total: dict[str, int] = {}
    for seg in segments(env):
        s = cli_json(env, "segments", "inspect", seg["id"])
        for k, v in s["events"].items():
            total[k] = total.get(k, 0) + v
        total["frames"] = total.get("frames", 0) + s["frames"]
        total["dropped_frames"] = total.get("dropped_frames", 0) + s["dropped_frames"]
    return total


def test_every_event_kind_is_captured(desktop: Desktop, home: Path) -> None:
    w = xterm(desktop, "big", geometry="300x78+0+0")
    desktop.activate(w)
    desktop.xdotool("mousemove", "400", "400")
    rec, env = start(desktop, home)
    desktop.xdotool("type", "--delay", "8", "abcdefghijklmnopqrst")  # 20 keys, no modifiers
    for i in range(25):
        desktop.xdotool("mousemove", str(300 + i * 17), str(300 + i * 9))
    for _ in range(3):
        desktop.xdotool("click", "1")
    desktop.xdotool("click", "--repeat", "4", "4")
    desktop.xdotool("click", "--repeat", "3", "5")
    rec.settle()
    assert rec.stop() == 0, rec.stderr
    counts = summed_inspect(env)
    assert counts["key_press"] == 20
    assert counts["key_release"] == 20
    assert counts["mouse_move"] == 25
    assert counts["mouse_press"] == 3
    assert counts["mouse_release"] == 3
    assert counts["scroll"] == 7
    assert counts["frames"] >= 2
    assert counts["dropped_frames"] == 0


def test_text_typed_equals_text_recorded(desktop: Desktop, home: Path, tmp_path: Path) -> None:
    w = xterm(desktop, "editor", geometry="200x60+0+0")
    desktop.activate(w)
    desktop.xdotool("mousemove", "300", "300")
    rec, env = start(desktop, home)
    text = ("The quick brown Fox: 42! (a+b)*c = {x}; 'single' \"double\" ~`@#$%^&_|\\<>?/ -=[]\n"
            # xdotool types letters missing from the layout by remapping a spare keycode; it
            # cannot produce their capitals (the app itself receives "ü" for "Ü"), so lower case.
            "ünïcödé via remapped keys: é ß € ñ\n")
    desktop.xdotool("type", "--delay", "10", text)
    rec.settle()
    assert rec.stop() == 0, rec.stderr
    events = all_events(export_all(env, tmp_path / "out"))
    assert typed_text(events) == text
    presses = [e for e in events if e["kind"] == "key_press" and e["char"] == "F"]
    assert presses and "shift" in presses[0]["modifiers"]


def test_window_switches_are_recorded(desktop: Desktop, home: Path, tmp_path: Path) -> None:
    a = xterm(desktop, "alpha", geometry="80x24+0+0", title="alpha window")
    b = xterm(desktop, "beta", geometry="80x24+700+300", title="beta window")
    desktop.activate(a)
    rec, env = start(desktop, home)
    written = rec.settle()["events_written"].get("focus", 0)
    for n, win in enumerate((b, a, b), start=1):
        desktop.activate(win)
        # The person looks at each window before switching on: wait until the recorder has it.
        wait_for(lambda n=n: rec.status()["events_written"].get("focus", 0) >= written + n, 10,  # type: ignore[misc]
                 "the switch to be recorded")
    rec.settle()
    assert rec.stop() == 0, rec.stderr
    dirs = export_all(env, tmp_path / "out")
    changes = [e for d in dirs for e in read_jsonl(d / "windows.jsonl") if not e.get("carried")]
    names = [c["window"]["wm_instance"] if c["window"] else None for c in changes]
    assert names[-3:] == ["beta", "alpha", "beta"], names
    last = changes[-1]["window"]
    assert last["wm_class"] == "XTerm" and last["title"] == "beta window"
    assert last["pid"] and last["process"] == "xterm"
    assert last["geometry"]["width"] > 100 and last["frame"] is not None


def test_a_frame_precedes_every_click(desktop: Desktop, home: Path, tmp_path: Path) -> None:
    w = xterm(desktop, "clicks", geometry="200x60+0+0")
    desktop.activate(w)
    rec, env = start(desktop, home)
    for i in range(8):
        desktop.xdotool("type", "--delay", "5", f"line {i}\n")  # changes the screen
        desktop.xdotool("mousemove", str(200 + 60 * i), str(200 + 30 * i))
        time.sleep(0.05 * (i % 3))  # the person's own, varying pause between moving and clicking
        desktop.xdotool("click", "1")
    rec.settle()
    assert rec.stop() == 0, rec.stderr
    dirs = export_all(env, tmp_path / "out")
    events = all_events(dirs)
    frames = sorted((f for d in dirs for f in read_jsonl(d / "frames.jsonl")), key=lambda f: f["t"])
    clicks = [e for e in events if e["kind"] == "mouse_press"]
    assert len(clicks) == 8
    for c in clicks:
        before = [f for f in frames if f["t"] < c["t"]]
        assert before, "no frame before a click"
        lag = c["t"] - before[-1]["t"]
        assert 0 < lag <= 0.1, f"before-frame lag {lag * 1000:.1f} ms"
        assert (tmp_path / "out").exists()


def test_segments_rotate_and_each_decodes_alone(desktop: Desktop, home: Path, tmp_path: Path) -> None:
    w = xterm(desktop, "rot", geometry="200x60+0+0")
    desktop.activate(w)
    rec, env = start(desktop, home, segments__rotate_seconds="1.5")
    for i in range(10):
        desktop.xdotool("type", "--delay", "20", f"segment text {i}\n")
        time.sleep(0.2)  # the person pauses between lines: what is tested is typing across rotations
    assert rec.stop() == 0, rec.stderr
    segs = segments(env)
    assert len(segs) >= 3
    assert all(s["state"] == "finished" for s in segs)
    for i, seg in enumerate(segs):
        out = tmp_path / f"seg{i}"
        res = cli(env, "segments", "export", seg["id"], "--out", str(out))
        assert res.returncode == 0, res.stderr
        frames = read_jsonl(out / "frames.jsonl")
        assert frames, f"segment {seg['id']} has no frame"
        first = min(frames, key=lambda f: f["seq"])
        assert first["keyframe"], "a segment must start with a keyframe"
        assert len(list((out / "frames").glob("*.png"))) == len(frames)
    # No event is lost or duplicated across the boundaries.
    events = all_events(export_all(env, tmp_path / "all"))
    assert typed_text(events) == "".join(f"segment text {i}\n" for i in range(10))


def test_sigkill_loses_at_most_a_second_and_recovers(desktop: Desktop, home: Path, tmp_path: Path) -> None:
    w = xterm(desktop, "crash", geometry="200x60+0+0")
    desktop.activate(w)
    rec, env = start(desktop, home, segments__rotate_seconds="600")
    stop = threading.Event()

    def typist() -> None:
        while not stop.is_set():
            desktop.xdotool("type", "--delay", "15", "abcdefghij ")

    t = threading.Thread(target=typist)
    t.start()
    wait_for(lambda: rec.status()["events_written"].get("key_press", 0) >= 60, 30, "a while of typing to be written")
    killed_at = time.monotonic()
    rec.kill9()
    stop.set()
    t.join()
    segs = segments(env)
    assert [s["state"] for s in segs] == ["open"]
    res = cli(env, "segments", "recover")
    assert res.returncode == 0 and "recovered" in res.stdout, res.stdout + res.stderr
    segs = segments(env)
    assert [s["state"] for s in segs] == ["finished"]
    summary = cli_json(env, "segments", "inspect", segs[0]["id"])
    assert summary["recovered"] and summary["finished_by"] == "recovery"
    events = all_events(export_all(env, tmp_path / "out"))
    keys = [e for e in events if e["kind"] in ("key_press", "key_release")]
    assert keys, "nothing survived the crash"
    assert killed_at - keys[-1]["t"] <= 1.0, f"lost {killed_at - keys[-1]['t']:.2f}s of input"
    # A restarted recorder also recovers on its own and records again.
    rec2 = RecorderProcess(env).ready()
    assert rec2.stop() == 0


def test_pause_records_nothing(desktop: Desktop, home: Path, tmp_path: Path) -> None:
    w = xterm(desktop, "pause", geometry="200x60+0+0")
    desktop.activate(w)
    rec, env = start(desktop, home)
    desktop.xdotool("type", "--delay", "10", "before ")
    assert cli(env, "record", "pause").returncode == 0
    paused_at = time.monotonic()
    assert rec.status()["state"] == "paused"
    desktop.xdotool("type", "--delay", "10", "during ")
    desktop.xdotool("mousemove", "500", "500", "click", "1")
    resumed_at = time.monotonic()
    assert cli(env, "record", "resume").returncode == 0
    desktop.xdotool("type", "--delay", "10", "after ")
    res = cli(env, "record", "pause", "--for", "1s")
    assert res.returncode == 0, res.stderr
    desktop.xdotool("type", "--delay", "10", "timed ")
    desktop.wait_for(lambda: rec.status()["state"] == "recording", 5, "auto-resume")
    desktop.xdotool("type", "--delay", "10", "again")
    rec.settle()
    assert rec.stop() == 0, rec.stderr
    dirs = export_all(env, tmp_path / "out")
    events = all_events(dirs)
    assert typed_text(events) == "before after again"
    frames = [f for d in dirs for f in read_jsonl(d / "frames.jsonl")]
    inputs = [e for e in events if e["kind"] not in ("marker", "frame_drop", "redaction")]
    assert not [e for e in inputs if paused_at < e["t"] < resumed_at]
    assert not [f for f in frames if paused_at + 0.05 < f["t"] < resumed_at]
    names = [e["name"] for e in events if e["kind"] == "marker"]
    assert names.count("pause") == 2 and names.count("resume") == 2
