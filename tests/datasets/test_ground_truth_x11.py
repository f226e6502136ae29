"""Ground truth: a scripted task in real X applications, recorded, built into a dataset, checked exactly.

xdotool types known text into an xterm, presses Enter and a hotkey, clicks three buttons of a real
X application at known centres and scrolls over it, between ``jobshadow task start/end``. The real
recorder records it; ``jobshadow dataset build --from-segments`` builds the dataset. The test
asserts the exact actions, and that each click's frame shows the screen *before* that click: the
buttons turn green the moment the mouse button goes down, so a frame from after would show it.

The ``time.sleep`` calls are the scripted person's pauses: the gaps between moves, clicks and
typing are part of the ground truth (a frame per change, writes split by pauses), so they stay.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from PIL import Image

from jobshadow.testing import buttons
from jobshadow.testing.xdesktop import Desktop, xterm
from tests.recording import RecorderProcess, cli, cli_json, jobshadow_env

pytestmark = [pytest.mark.x11, pytest.mark.slow]

TEXT = "hello ground truth"
TASK = "press the three buttons"
WINDOW_AT = (700, 300)


def colour(image: Image.Image, x: int, y: int) -> tuple[int, int, int]:
    r, g, b = image.convert("RGB").getpixel((x, y))  # type: ignore[misc]
    return r, g, b


def near(got: tuple[int, int, int], want: int, tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(got, ((want >> 16) & 255, (want >> 8) & 255, want & 255),
                                                       strict=True))


def start_buttons(desktop: Desktop) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "jobshadow.testing.buttons"], env=desktop.env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    win = desktop.wait_window("jsbuttons")
    desktop.xdotool("windowmove", "--sync", win, str(WINDOW_AT[0]), str(WINDOW_AT[1]))
    return proc, win


def window_origin(desktop: Desktop, win: str) -> tuple[int, int]:
    """Where the window's own pixels start on the screen (inside the window manager's frame)."""
    out = subprocess.run(["xwininfo", "-id", win], env=desktop.env, capture_output=True, text=True, check=True).stdout
    fields = dict(line.strip().split(":", 1) for line in out.splitlines() if ":" in line)
    return int(fields["Absolute upper-left X"]), int(fields["Absolute upper-left Y"])


def test_a_scripted_task_becomes_exactly_its_actions(desktop: Desktop, home: Path, tmp_path: Path) -> None:
    term = xterm(desktop, "gtnotes", geometry="80x10+0+0", title="notes")
    app, win = start_buttons(desktop)
    try:
        ox, oy = window_origin(desktop, win)
        centres = [(ox + cx, oy + cy) for cx, cy in (buttons.centre(i) for i in range(3))]
        env = jobshadow_env(home, desktop.display, capture__scope__allow_apps='["xterm", "jsbuttons"]')
        assert cli(env, "consent", "give", "--yes").returncode == 0
        desktop.activate(term)
        desktop.xdotool("mousemove", "200", "100")
        rec = RecorderProcess(env).ready()
        assert cli(env, "task", "start", TASK).returncode == 0
        time.sleep(0.5)
        desktop.xdotool("type", "--delay", "40", TEXT)
        desktop.xdotool("key", "Return")
        time.sleep(0.3)
        desktop.xdotool("key", "ctrl+e")
        time.sleep(0.5)
        desktop.activate(win)
        for x, y in centres:
            desktop.xdotool("mousemove", str(x - 30), str(y + 20))
            time.sleep(0.2)
            desktop.xdotool("mousemove", str(x), str(y))
            time.sleep(0.4)
            desktop.xdotool("click", "1")
            time.sleep(0.6)  # long enough for a change-driven frame to show the green button
        desktop.xdotool("mousemove", str(ox + 260), str(oy + 150))
        time.sleep(0.3)
        desktop.xdotool("click", "--repeat", "3", "--delay", "60", "5")
        time.sleep(0.8)
        assert cli(env, "task", "end").returncode == 0
        time.sleep(0.3)
        assert rec.stop() == 0, rec.stderr
    finally:
        app.terminate()
        app.communicate(timeout=5)

    spool = {Path(s["path"]).parent for s in cli_json(env, "segments", "list")}
    assert len(spool) == 1
    out = tmp_path / "dataset"
    built = cli(env, "dataset", "build", "--from-segments", str(spool.pop()), "--format", "hf", "--out", str(out),
                "--image-format", "png", "--json", timeout=300)
    assert built.returncode == 0, built.stderr
    report = json.loads(built.stdout)
    assert report["tasks"] == 1, report
    rows = pq.read_table(out / "data").to_pylist()
    assert {r["task_id"] for r in rows} == {rows[0]["task_id"]}
    tasks = pq.read_table(out / "tasks.parquet").to_pylist()
    assert tasks[0]["title"] == TASK and set(tasks[0]["apps"]) == {"XTerm", "JsButtons"}

    actions = [r for r in rows if r["action_type"] not in ("wait",)]
    kinds = [r["action_type"] for r in actions]
    assert kinds == ["write", "press", "hotkey", "click", "click", "click", "scroll", "terminate"], kinds
    write, enter, hotkey, *clicks, scroll, final = actions[:3] + actions[3:6] + actions[6:]
    assert write["text"] == TEXT and write["app"] == "XTerm" and write["window_title"] == "notes"
    assert enter["keys"] == ["enter"]
    assert hotkey["keys"] == ["ctrl", "e"]
    assert scroll["scroll_dy"] == 3 and scroll["scroll_dx"] == 0
    for i, (step, (x, y)) in enumerate(zip(clicks, centres, strict=True)):
        assert step["button"] == 1 and step["app"] == "JsButtons"
        assert abs(step["x"] - x) <= 2 and abs(step["y"] - y) <= 2, (step["x"], step["y"], x, y)
        assert step["frame_t"] <= step["t_start"]
        image = _image(step)
        # Before click i: the buttons clicked earlier are green, this one and later ones grey.
        for j, (bx, by) in enumerate(centres):
            want = buttons.GREEN if j < i else buttons.GREY
            assert near(colour(image, bx, by), want), (i, j, colour(image, bx, by))
        assert step["target_rect"] is not None
        tx, ty, tw, th = step["target_rect"]
        assert tx <= x < tx + tw and ty <= y < ty + th
    # The screen before the scroll shows all three green and no scroll bar yet; the final frame
    # (after the last action) shows the bar.
    before_scroll = _image(scroll)
    assert all(near(colour(before_scroll, bx, by), buttons.GREEN) for bx, by in centres)
    bar = (ox + 60, oy + 150)
    assert not near(colour(before_scroll, *bar), buttons.BLUE)
    assert near(colour(_image(final), *bar), buttons.BLUE)


def _image(row: dict[str, Any]) -> Image.Image:
    assert row["image"] and row["image"]["bytes"], f"step {row['step']} has no frame"
    return Image.open(io.BytesIO(row["image"]["bytes"]))
