"""Privacy canaries on a real X server: what must not be collected never reaches any stored byte.

Canaries are typed with xdotool into excluded and out-of-scope windows, a secret and PII are typed
into an allowed one, and an excluded window painted a canary colour overlaps an allowed window.
Afterwards every decrypted segment, every export, the raw spool bytes, the logs and the
recorder's temp directory are searched.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jobshadow.testing.xdesktop import Desktop, xterm
from tests.recording import (
    RecorderProcess,
    all_events,
    cli,
    export_all,
    jobshadow_env,
    read_jsonl,
    segments,
    typed_text,
)

pytestmark = [pytest.mark.x11, pytest.mark.slow]

EXCLUDED_CANARY = "zebracanary excluded 7731"
OUT_OF_SCOPE_CANARY = "otterscope canary 4402"
SECRET = "AKIAZ4QXW7PLM3NRT2VB"
SECRET2 = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
EMAIL = "jane.canary@example.com"
MAGENTA = (255, 0, 255)


def record_env(desktop: Desktop, home: Path, tmp: Path, **extra: str) -> dict[str, str]:
    env = jobshadow_env(home, desktop.display, capture__scope__allow_apps='["work"]', **extra)
    env["TMPDIR"] = str(tmp)  # anything the recorder writes to a temp file lands here
    assert cli(env, "consent", "give", "--yes").returncode == 0
    return env


def all_bytes_under(root: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in root.rglob("*") if p.is_file()]


def decrypted_segments(env: dict[str, str], out: Path) -> list[bytes]:
    blobs = []
    out.mkdir()
    for i, seg in enumerate(segments(env)):
        dest = out / f"seg{i}.mcap"
        res = cli(env, "segments", "decrypt", seg["id"], "--out", str(dest))
        assert res.returncode == 0, res.stderr
        blobs.append(dest.read_bytes())
    return blobs


def test_canaries_never_reach_storage(desktop: Desktop, home: Path, tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    work = xterm(desktop, "work", geometry="120x40+0+0", title="work")
    # An always-excluded credential prompt (its instance matches pinentry*) and an app out of scope.
    prompt = xterm(desktop, "pinentry-test", geometry="60x10+800+100", title="Enter passphrase")
    other = xterm(desktop, "notallowed", geometry="60x10+800+500", title="other")
    env = record_env(desktop, home, tmp)
    rec = RecorderProcess(env).ready()
    desktop.activate(work)
    desktop.xdotool("type", "--delay", "15", f"deploy with {SECRET} then mail {EMAIL} ok\n")
    desktop.activate(prompt)
    desktop.xdotool("type", "--delay", "15", EXCLUDED_CANARY + "\n")
    desktop.activate(other)
    desktop.xdotool("type", "--delay", "15", OUT_OF_SCOPE_CANARY + "\n")
    desktop.xdotool("mousemove", "900", "550", "click", "1")  # a click over the out-of-scope window
    desktop.activate(work)
    desktop.xdotool("type", "--delay", "15", f"token {SECRET2} and more text\n")
    rec.settle()
    assert rec.stop() == 0, rec.stderr

    exported = tmp_path / "export"
    dirs = export_all(env, exported)
    events = all_events(dirs)
    text = typed_text(events)
    assert "deploy with" in text and "and more text" in text  # the allowed window was recorded
    assert [e["finding"] for e in events if e["kind"] == "redaction"] == ["aws_access_key", "email", "github_token"]
    for canary in (EXCLUDED_CANARY, OUT_OF_SCOPE_CANARY):
        assert canary.split()[0] not in text
    # No key event at all is attributed to the excluded or out-of-scope windows.
    excluded_ids = {int(prompt), int(other)}
    assert not [e for e in events if e["kind"].startswith("key") and e.get("window_id") in excluded_ids]
    assert not [e for e in events if e["kind"] == "mouse_press" and e["x"] >= 800 and e["y"] >= 500]
    # Focus changes to excluded windows name nothing (not even the title).
    windows = [w for d in dirs for w in read_jsonl(d / "windows.jsonl")]
    assert all(w["window"] is None or w["window"]["wm_instance"] == "work" for w in windows)

    needles = [SECRET, SECRET2, EMAIL, "Z4QXW7PLM3", "jane.canary", EXCLUDED_CANARY, OUT_OF_SCOPE_CANARY,
               "zebracanary", "otterscope", "Enter passphrase", "pinentry-test"]
    stores: list[tuple[str, bytes]] = []
    stores += [(f"decrypted segment {i}", b) for i, b in enumerate(decrypted_segments(env, tmp_path / "dec"))]
    stores += [(str(p), b) for p, b in all_bytes_under(exported)]
    stores += [(str(p), b) for p, b in all_bytes_under(home)]  # raw spool, keys, logs, state
    stores += [(str(p), b) for p, b in all_bytes_under(tmp)]
    stores.append(("recorder stderr", rec.stderr.encode()))
    for where, blob in stores:
        for needle in needles:
            assert needle.encode() not in blob, f"{needle!r} found in {where}"
    # The raw spool holds no plaintext at all: no JSON field names, no MCAP magic.
    for seg in segments(env):
        raw = Path(seg["path"]).read_bytes()
        for marker in (b'"kind"', b"key_press", b"\x89MCAP", b"foxglove", b"XTerm"):
            assert marker not in raw, f"{marker!r} in the raw spool"


def test_excluded_window_pixels_never_reach_a_frame(desktop: Desktop, home: Path, tmp_path: Path) -> None:
    work = xterm(desktop, "work", geometry="200x70+0+0", title="work")
    env = record_env(desktop, home, tmp_path)
    rec = RecorderProcess(env).ready()
    desktop.activate(work)
    desktop.xdotool("type", "--delay", "10", "before the prompt\n")
    # A password manager painted magenta appears over the allowed window, moves, and goes away.
    vault = desktop.app(["xterm", "-name", "keepassxc", "-bg", "#ff00ff", "-fg", "#ff00ff",
                         "-geometry", "50x12+300+200", "-e", "cat"], "keepassxc")
    for i in range(6):
        desktop.xdotool("windowmove", "--sync", vault, str(300 + 90 * i), str(200 + 40 * i))
        desktop.activate(work)
        desktop.xdotool("type", "--delay", "5", f"typing under the vault {i}\n")
        desktop.xdotool("mousemove", str(100 + 50 * i), "600", "click", "1")
    desktop.xdotool("windowunmap", "--sync", vault)
    desktop.xdotool("type", "--delay", "5", "after\n")
    rec.settle()
    assert rec.stop() == 0, rec.stderr
    dirs = export_all(env, tmp_path / "export")
    frames = [p for d in dirs for p in sorted((d / "frames").glob("*.png"))]
    assert len(frames) >= 6
    allowed_seen = 0
    for png in frames:
        rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
        near = (np.abs(rgb[..., 0] - 255) < 40) & (rgb[..., 1] < 60) & (np.abs(rgb[..., 2] - 255) < 40)
        assert int(near.sum()) == 0, f"{png.name}: {int(near.sum())} canary pixels"
        # and the allowed window itself is in the frame (a blank frame would pass trivially)
        allowed_seen += int(rgb[50:400, 50:800].std() > 10)
    assert allowed_seen >= len(frames) // 2
    meta = [f for d in dirs for f in read_jsonl(d / "frames.jsonl")]
    assert any((w["masked"] and w["wm_class"] != "XTerm") or w["masked"] for f in meta for w in f["windows"])


def test_withdrawal_stops_at_once_and_delete_local_removes_everything(desktop: Desktop, home: Path,
                                                                     tmp_path: Path) -> None:
    work = xterm(desktop, "work", geometry="120x40+0+0")
    env = record_env(desktop, home, tmp_path)
    rec = RecorderProcess(env).ready()
    desktop.activate(work)
    desktop.xdotool("type", "--delay", "10", "recorded before withdrawal ")
    t0 = time.monotonic()
    res = cli(env, "consent", "withdraw")
    assert res.returncode == 0 and "recorder stopped" in res.stdout, res.stdout + res.stderr
    assert rec.wait(10) == 0
    assert time.monotonic() - t0 < 5
    segs = segments(env)
    assert segs and all(s["state"] == "finished" for s in segs)
    res = cli(env, "record", "start")
    assert res.returncode == 1 and "withdrawn" in res.stderr
    res = cli(env, "consent", "withdraw", "--delete-local")
    assert res.returncode == 0
    assert segments(env) == []
    assert not (home / "keys" / "spool.key").exists()


def test_tampering_and_truncation_are_reported(desktop: Desktop, home: Path, tmp_path: Path) -> None:
    work = xterm(desktop, "work", geometry="120x40+0+0")
    env = record_env(desktop, home, tmp_path)
    rec = RecorderProcess(env).ready()
    desktop.activate(work)
    desktop.xdotool("type", "--delay", "10", "some text to seal\n")
    assert rec.stop() == 0
    seg = segments(env)[0]
    path = Path(seg["path"])
    original = path.read_bytes()
    tampered = bytearray(original)
    tampered[len(tampered) // 2] ^= 0x01
    path.write_bytes(bytes(tampered))
    res = cli(env, "segments", "inspect", seg["id"], "--json")
    assert res.returncode == 1 and "failed authentication" in res.stderr
    path.write_bytes(original[: len(original) - 100])
    res = cli(env, "segments", "export", seg["id"], "--out", str(tmp_path / "x"))
    assert res.returncode == 1 and "truncated" in res.stderr
    path.write_bytes(original)
    other = jobshadow_env(tmp_path / "other-home")
    res = cli(other, "segments", "inspect", str(path), "--json")
    assert res.returncode == 1 and "no spool key" in res.stderr
    cli(other, "consent", "give", "--yes")
    from jobshadow.home import Home
    from jobshadow.spool.keys import load_spool_key

    load_spool_key(Home(tmp_path / "other-home"), "file")
    res = cli(other, "segments", "inspect", str(path), "--json")
    assert res.returncode == 1 and "sealed with key" in res.stderr
    assert json.loads(cli(env, "segments", "inspect", seg["id"], "--json").stdout)["complete"]
    assert os.stat(home / "keys" / "spool.key").st_mode & 0o077 == 0
