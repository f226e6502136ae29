"""Passwords that follow no recognisable command, and held text that runs out of time (real X).

* a login form in the real Chromium: user name, Tab (or a click), password, Return;
* a password asked for by a script at a prompt that does not echo, reached by recalling the
  command from the shell's history;
* a secret the person stops typing half-way through for longer than the hold time.

The ``time.sleep`` calls here are the person's pauses — waiting for a page or a prompt, being
interrupted for longer than the hold time — and the timing is what is tested; they stay.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from jobshadow.testing.xdesktop import SHELL_COMMAND, Desktop, chromium, xterm
from tests.recording import RecorderProcess, all_events, cli, export_all, jobshadow_env, typed_text

pytestmark = [pytest.mark.x11, pytest.mark.slow]

FORM = """<!doctype html><html><head><title>Sign in - Intranet</title></head>
<body style="font: 18px sans-serif; margin: 40px"><h1>Sign in</h1>
<form onsubmit="document.getElementById('done').textContent = 'Welcome back'; return false">
<p><label>User name <input id="user" autocomplete="username" autofocus></label></p>
<p><label>Password <input id="pw" type="password" autocomplete="current-password"></label></p>
<p><button>Sign in</button></p></form><p id="done"></p></body></html>"""


def record(desktop: Desktop, home: Path, apps: str, **settings: str) -> tuple[dict[str, str], RecorderProcess]:
    env = jobshadow_env(home, desktop.display, capture__scope__allow_apps=apps, **settings)
    assert cli(env, "consent", "give", "--yes").returncode == 0
    return env, RecorderProcess(env).ready()


def stored(home: Path, export: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for root in (home, export) for p in root.rglob("*") if p.is_file()]


def test_a_password_typed_into_a_login_form_is_never_recorded(desktop: Desktop, home: Path, tmp_path: Path) -> None:
    page = tmp_path / "login.html"
    page.write_text(FORM)
    browser = chromium(desktop, page.as_uri(), str(tmp_path / "profile"))
    env, rec = record(desktop, home, '["chromium"]')
    desktop.activate(browser)
    x = desktop.xdotool
    # Tab between the fields…
    x("type", "--delay", "60", "alice.w\tS3cret!pass\n")
    time.sleep(0.8)
    # …and again, moving between the fields with the mouse instead.
    x("key", "F5")
    time.sleep(1.5)
    x("mousemove", "237", "260", "click", "1")
    x("type", "--delay", "60", "bob.k")
    x("mousemove", "223", "301", "click", "1")
    x("type", "--delay", "60", "Hunter2Again\n")
    time.sleep(0.8)
    assert rec.stop() == 0, rec.stderr
    export = tmp_path / "export"
    events = all_events(export_all(env, export))
    text = typed_text(events)
    assert "alice.w" in text and "bob.k" in text  # the user names themselves are ordinary text
    assert [e["finding"] for e in events if e["kind"] == "redaction"] == ["password", "password"]
    for path, blob in stored(home, export):
        for secret in ("S3cret!pass", "Hunter2Again", "Hunter2"):
            assert secret.encode() not in blob, f"{secret!r} in {path}"


def test_a_password_at_a_prompt_that_does_not_echo_is_never_recorded(desktop: Desktop, home: Path,
                                                                      tmp_path: Path) -> None:
    term = xterm(desktop, "work", geometry="100x30+0+0", title="work", command=SHELL_COMMAND)
    env, rec = record(desktop, home, '["work"]')
    desktop.activate(term)
    x = desktop.xdotool
    # A script that asks for a PIN, first typed, then recalled from history with the Up arrow.
    x("type", "--delay", "40", "read -s -p 'PIN: ' pin; echo; echo got ${#pin} digits\n")
    time.sleep(0.6)
    x("type", "--delay", "90", "482913\n")
    time.sleep(0.6)
    x("key", "Up")
    x("key", "Return")
    time.sleep(0.6)
    x("type", "--delay", "90", "Correct-Horse-7\n")
    time.sleep(0.8)
    assert rec.stop() == 0, rec.stderr
    export = tmp_path / "export"
    events = all_events(export_all(env, export))
    assert "read -s -p" in typed_text(events)
    assert [e["finding"] for e in events if e["kind"] == "redaction"] == ["password", "password"]
    for path, blob in stored(home, export):
        for secret in ("482913", "Correct-Horse-7", "Correct-Horse"):
            assert secret.encode() not in blob, f"{secret!r} in {path}"


def test_a_secret_left_half_typed_past_the_hold_time_is_redacted_whole(desktop: Desktop, home: Path,
                                                                        tmp_path: Path) -> None:
    term = xterm(desktop, "work", geometry="100x30+0+0", title="work")
    env, rec = record(desktop, home, '["work"]', protect__max_hold_ms="1000")
    desktop.activate(term)
    x = desktop.xdotool
    x("type", "--delay", "40", "key is AKIAZ4QXW7")
    time.sleep(2.0)  # the person is interrupted: longer than the hold time
    x("type", "--delay", "40", "PLM3NRT2VB and card 4111 1111")
    time.sleep(2.0)
    x("type", "--delay", "40", " 1111 1111 then mail jane.doe")
    time.sleep(2.0)
    x("type", "--delay", "40", "@example.com ok\n")
    time.sleep(0.8)
    assert rec.stop() == 0, rec.stderr
    export = tmp_path / "export"
    events = all_events(export_all(env, export))
    text = typed_text(events)
    assert text.startswith("key is ") and text.endswith("ok\n")
    for half in ("Z4QXW7", "AKIA", "PLM3NRT2VB", "4111", "jane.doe"):
        assert half not in text, f"{half!r} released in clear: {text!r}"
    for path, blob in stored(home, export):
        for half in (b"Z4QXW7", b"PLM3NRT2VB", b"4111 1111", b"jane.doe"):
            assert half not in blob, f"{half!r} in {path}"
