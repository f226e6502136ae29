"""The whole recorder in-process, on the in-memory desktop: no X server, no fixed sleeps, real spool.

The capture sources are ``jobshadow.testing.capture``'s doubles; the filters, guard, echo shield,
encoder, sealed spool and control socket are the production code.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobshadow.agent.control import send_command
from jobshadow.agent.recorder import Recorder
from jobshadow.config import CaptureSettings, ProtectSettings, ScopeSettings, SegmentSettings, Settings
from jobshadow.device_api import Consent, DeviceConfig, DeviceStatus, Programme, Scope, UploadPolicy
from jobshadow.errors import ControlError
from jobshadow.home import Home
from jobshadow.protect.consent import ConsentStore
from jobshadow.records import FocusChange, FrameMeta, KeyEvent, Marker, Record, Rect, Redaction
from jobshadow.spool.keys import load_spool_key
from jobshadow.spool.store import SpoolStore, open_segment
from jobshadow.testing.capture import InMemoryDesktop
from jobshadow.testing.poll import wait_for

ECHO = Rect(20, 20, 6, 12)  # where the windows of these tests draw what is typed


def settings(home: Path) -> Settings:
    return Settings(home=home, capture=CaptureSettings(scope=ScopeSettings(allow_apps=("work",))),
                    protect=ProtectSettings(keyring="file", holdback_ms=50, max_hold_ms=1000),
                    segments=SegmentSettings(flush_seconds=0.1))


class Running:
    """A recorder on its own thread; the test that starts it stops and joins it."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self.started = threading.Event()
        self.thread = threading.Thread(target=rec.run, kwargs={"on_started": self.started.set}, daemon=True)

    def __enter__(self) -> Running:
        self.thread.start()
        assert self.started.wait(20), "the recorder did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.rec.request_stop("test")
        self.thread.join(20)
        assert not self.thread.is_alive(), "the recorder did not stop"

    def written(self, kind: str) -> int:
        return int(self.rec.counters.written.get(kind, 0))


@pytest.fixture
def desktop() -> InMemoryDesktop:
    return InMemoryDesktop(320, 240)


@pytest.fixture
def recorder(home: Path, desktop: InMemoryDesktop) -> Running:
    ConsentStore(Home(home)).give()
    return Running(Recorder(settings(home), backend=desktop.backend, tune=False))


def spooled(home: Path) -> list[Record]:
    """Every record in the spool, segment by segment, in time order within each."""
    key = load_spool_key(Home(home), "file", create=False)
    out: list[Record] = []
    for seg in SpoolStore(Home(home)).list():
        _opened, content = open_segment(seg.path, key)
        out += [r for _, _, r in content.records()]
    return out


def typed(records: list[Record]) -> str:
    return "".join(r.char or "" for r in records if isinstance(r, KeyEvent) and r.kind == "key_press")


def test_keys_and_frames_of_an_in_scope_window_reach_the_spool(recorder: Running, desktop: InMemoryDesktop,
                                                                home: Path) -> None:
    work = desktop.open("Work", "notes", Rect(0, 0, 200, 240))
    with recorder:
        desktop.input.type_text("hello world\n", echo=ECHO)
        wait_for(lambda: recorder.written("key_press") >= 12, 10, "the keys to be written")
    got = spooled(home)
    assert typed(got) == "hello world\r"
    frames = [r for r in got if isinstance(r, FrameMeta)]
    assert frames and frames[0].masked_area > 0  # the desktop beside the window is filled
    focus = [r for r in got if isinstance(r, FocusChange) and r.window is not None]
    assert focus and focus[0].window is not None and focus[0].window.window_id == work.window_id
    assert [r.name for r in got if isinstance(r, Marker)] == ["recording_start", "recording_stop"]


def test_an_out_of_scope_window_leaves_no_keys_and_no_name(recorder: Running, desktop: InMemoryDesktop,
                                                           home: Path) -> None:
    desktop.open("Signal", "Signal: Alice", Rect(0, 0, 320, 240))
    with recorder:
        desktop.input.type_text("private message\n")
        desktop.input.click(100, 100)
        wait_for(lambda: sum(recorder.rec.filter.suppressed.values()) >= 17, 10, "the keys to be judged")
    got = spooled(home)
    assert typed(got) == ""
    assert not [r for r in got if isinstance(r, FocusChange) and r.window is not None]
    assert not [r for r in got if isinstance(r, FrameMeta)]  # nothing in scope on screen: no frame at all


def test_a_typed_secret_is_redacted_before_it_reaches_the_spool(recorder: Running, desktop: InMemoryDesktop,
                                                                home: Path) -> None:
    desktop.open("Work", "terminal")
    with recorder:
        desktop.input.type_text("export KEY=AKIAZ4QXW7PLM3NRT2VB\n", echo=ECHO)
        wait_for(lambda: recorder.written("redaction") == 1, 10, "the redaction marker")
    got = spooled(home)
    assert "AKIA" not in typed(got) and typed(got).startswith("export KEY=")
    assert [r.finding for r in got if isinstance(r, Redaction)] == ["aws_access_key"]


def test_shutdown_stops_sources_first_drains_the_filters_and_finishes_the_segment(
        recorder: Running, desktop: InMemoryDesktop, home: Path) -> None:
    desktop.open("Work", "notes")
    with recorder:
        desktop.input.type_text("almost", echo=ECHO)  # a word still being typed: the guard holds it back
        wait_for(lambda: recorder.rec.filter.guard.held > 0, 10, "the guard to hold the word")
    assert recorder.rec.stopped == ["input", "screen", "writer", "control", "backend"]
    # The input source was stopped before anything was closed, and nothing it offered later got in.
    assert desktop.log.index("input.stop") < desktop.log.index("windows.close") < desktop.log.index("screen.close")
    desktop.input.type_text("late")
    assert desktop.input.delivered == 12 + 6  # six keys, pressed and released, and the echo of each
    got = spooled(home)
    assert typed(got) == "almost"  # held keys were scanned and written, not lost
    assert isinstance(got[-1], Marker) and got[-1].name == "recording_stop"
    assert [s.state for s in SpoolStore(Home(home)).list()] == ["finished"]


def test_a_scope_from_the_collector_applies_from_where_it_arrives(recorder: Running, desktop: InMemoryDesktop,
                                                                  home: Path) -> None:
    """The sync thread hands the new scope to the writer in order: keys queued before it are judged by
    the old scope, never by the new one."""
    desktop.open("Jira", "board")
    with recorder:
        desktop.input.type_text("before ", echo=ECHO)
        recorder.rec._on_remote_config(DeviceConfig("e1", Programme("running"), Consent("given"),
                                                     Scope("work", 3, apps=("jira",)), UploadPolicy(True),
                                                     DeviceStatus("d1")))
        desktop.input.type_text("after ", echo=ECHO)
        wait_for(lambda: recorder.written("key_press") >= 6, 10, "the keys after the scope")
        assert recorder.rec.filter.policy.settings.allow_apps == ("jira",)
    got = spooled(home)
    assert typed(got) == "after "
    scope = [r for r in got if isinstance(r, Marker) and r.name == "scope"]
    assert scope and scope[0].detail == {"name": "work", "version": 3}


def test_withdrawal_discards_what_is_held_and_stops(recorder: Running, desktop: InMemoryDesktop, home: Path) -> None:
    desktop.open("Work", "notes")
    with recorder:
        desktop.input.type_text("kept words ", echo=ECHO)
        wait_for(lambda: recorder.written("key_press") >= 11, 10, "the first words")
        desktop.input.type_text("secretish", echo=ECHO)
        wait_for(lambda: recorder.rec.filter.guard.held > 0, 10, "the guard to hold the word")
        assert send_command(Home(home).control_socket, "withdraw")["ok"]
        recorder.thread.join(10)
        assert recorder.rec.stop_reason == "consent withdrawn"
    assert typed(spooled(home)) == "kept words "


def test_control_commands_are_looked_up_in_a_table(recorder: Running, desktop: InMemoryDesktop, home: Path) -> None:
    desktop.open("Work", "notes")
    sock = Home(home).control_socket
    with recorder:
        assert send_command(sock, "pause", {"seconds": 60})["status"]["state"] == "paused"
        desktop.input.type_text("while paused")
        assert recorder.rec.counters.captured["key_press"] == 0
        assert send_command(sock, "resume")["status"]["state"] == "recording"
        assert send_command(sock, "task_start", {"title": "expenses for jane.doe@example.com"})["ok"]
        with pytest.raises(ControlError, match="unknown command 'dance'"):
            send_command(sock, "dance")
        with pytest.raises(ControlError, match="between 1 second and 7 days"):
            send_command(sock, "pause", {"seconds": -1})
        wait_for(lambda: recorder.written("marker") >= 3, 10, "the markers")
    markers = [r for r in spooled(home) if isinstance(r, Marker)]
    assert [m.name for m in markers] == ["recording_start", "pause", "resume", "task_start", "recording_stop"]
    assert markers[3].detail == {"title": "expenses for [REDACTED:email]"}


@pytest.fixture(autouse=True)
def _no_thread_left(request: pytest.FixtureRequest) -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    wait_for(lambda: not {t for t in threading.enumerate() if t not in before and t.name in (
        "screen", "writer", "control")}, 10, "the recorder's threads to end")
