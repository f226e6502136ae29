"""Privacy canaries for what the screen and the window model show, on a real X server.

A person works in a real bash in xterm: types an access key and an e-mail address (echoed on
screen, then scrolled away by output), answers a prompt that does not echo with a password, and
runs a program that puts a token in the window title. Another application is open beside it,
out of scope. Every stored frame is read back with OCR and every stored byte searched.

The one ``time.sleep`` is the person pausing to read the last output, so that the screen settles
and its final state is a frame; that pause is part of what is recorded.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from jobshadow.testing.xdesktop import SHELL_COMMAND, Desktop, xterm
from tests import ocr
from tests.recording import RecorderProcess, all_events, cli, export_all, jobshadow_env, read_jsonl, typed_text

pytestmark = [pytest.mark.x11, pytest.mark.slow]

ACCESS_KEY = "AKIAZ4QXW7PLM3NRT2VB"
EMAIL = "jane.canary@example.com"
PASSWORD = "Tr0ub4dor3xyz"
TITLE_TOKEN = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
OTHER_APP = "otterchat"


def test_typed_and_titled_secrets_never_reach_a_frame_or_a_byte(desktop: Desktop, home: Path,
                                                                tmp_path: Path) -> None:
    # The token a program puts in the title lives in a file, so it is never typed.
    token_file = tmp_path / "title-token"
    token_file.write_text(TITLE_TOKEN)
    work = xterm(desktop, "work", geometry="100x42+0+0", title="work", command=SHELL_COMMAND)
    xterm(desktop, OTHER_APP, geometry="40x10+700+500", title="Otter chat with Alice")
    env = jobshadow_env(home, desktop.display, capture__scope__allow_apps='["work"]')
    assert cli(env, "consent", "give", "--yes").returncode == 0
    rec = RecorderProcess(env).ready()
    desktop.activate(work)
    x = desktop.xdotool
    x("type", "--delay", "40", "echo first line ok\n")
    x("type", "--delay", "40", f"export AWS_ACCESS_KEY_ID={ACCESS_KEY}\n")
    x("type", "--delay", "40", f"true {EMAIL} later\n")
    for _ in range(3):
        x("type", "--delay", "20", "seq 1 6\n")
    x("type", "--delay", "40", "read -s -p 'Password: ' pw; echo\n")
    desktop.wait_for(lambda: "Password" in ocr.read(desktop.screenshot(), (0, 0, 620, 600)), 10, "the prompt")
    x("type", "--delay", "60", f"{PASSWORD}\n")
    # A program (not the keys) puts a token into the window title.
    x("type", "--delay", "20", f"printf '\\033]0;deploy token %s\\007' $(cat {token_file})\n")
    x("type", "--delay", "40", "echo all done\n")
    time.sleep(1.0)
    assert rec.stop() == 0, rec.stderr

    dirs = export_all(env, tmp_path / "export")
    events = all_events(dirs)
    text = typed_text(events)
    assert "echo first line ok" in text and "echo all done" in text
    assert [e["finding"] for e in events if e["kind"] == "redaction"] == ["aws_access_key", "email", "password"]
    needles = [ACCESS_KEY, EMAIL, PASSWORD, TITLE_TOKEN]
    # Titles: the one the program set is stored with the token replaced by a marker.
    titles = [w["window"]["title"] for d in dirs for w in read_jsonl(d / "windows.jsonl") if w["window"]]
    assert any("[REDACTED:github_token]" in t for t in titles), titles
    # Frames: the out-of-scope application is not named, only its rectangle kept for masking.
    frames = [f for d in dirs for f in read_jsonl(d / "frames.jsonl")]
    stacked = [w for f in frames for w in f["windows"]]
    assert any(not w["in_scope"] for w in stacked)
    assert all(w["wm_class"] == "" and w["window_id"] == 0 for w in stacked if not w["in_scope"])
    assert any(f.get("shielded_area", 0) > 0 for f in frames)
    # Every frame, read back with OCR: none shows a secret; the last still shows ordinary text.
    pngs = [d / f["file"] for d in dirs for f in read_jsonl(d / "frames.jsonl")]
    assert len(pngs) >= 10
    for png in pngs:
        seen = ocr.read(png, (0, 0, 620, 600))
        assert not ocr.leaked(seen, needles), f"{png.name}: {ocr.leaked(seen, needles)}"
    final = ocr.read(pngs[-1], (0, 0, 620, 600))
    assert "first line ok" in final and "all done" in final, final
    # Every byte under the home and the export.
    for root in (home, tmp_path / "export"):
        for p in root.rglob("*"):
            if p.is_file():
                blob = p.read_bytes()
                for needle in (*needles, OTHER_APP, "Otter chat"):
                    assert needle.encode() not in blob, f"{needle!r} in {p}"

