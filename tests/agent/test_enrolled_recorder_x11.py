"""An enrolled recorder follows the control plane: scope, kill switch, consent; and uploads.

Real collector (uvicorn on loopback), real recorder process on Xvfb, real xdotool typing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jobshadow.testing.fleet import LiveCollector, enrol_device
from jobshadow.testing.poll import wait_for
from jobshadow.testing.xdesktop import Desktop, xterm
from tests.recording import RecorderProcess, cli, jobshadow_env

pytestmark = [pytest.mark.x11, pytest.mark.slow]


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[LiveCollector]:
    c = LiveCollector(tmp_path / "server")
    try:
        yield c
    finally:
        c.stop()


def within(seconds: float, cond: Callable[[], bool], what: str) -> float:
    """How long ``cond`` took to hold (the shared poll, with a deadline)."""
    t0 = time.monotonic()
    wait_for(cond, seconds, what, interval=0.1)
    return time.monotonic() - t0


def state(rec: RecorderProcess) -> dict[str, Any]:
    return rec.status()


def test_enrolled_recorder_obeys_the_control_plane_and_uploads(desktop: Desktop, collector: LiveCollector,
                                                               tmp_path: Path) -> None:
    dev = enrol_device(collector, tmp_path / "device", "erin@example.com")
    env = jobshadow_env(tmp_path / "device", desktop.display, upload__auto_approve_after="0",
                        upload__poll_timeout="5", segments__rotate_seconds="2")
    assert cli(env, "consent", "give", "--yes").returncode == 0
    work = xterm(desktop, "work", geometry="120x40+0+0")
    desktop.activate(work)
    # Enrolled but no active scope: the recorder runs and captures nothing.
    rec = RecorderProcess(env).ready()
    within(5, lambda: "no active collection scope" in state(rec)["reason"], "the no-scope hold")
    desktop.xdotool("type", "--delay", "10", "before the scope ")
    assert state(rec)["events_captured"]["key_press"] == 0
    # A reviewed scope is activated: the device applies it within 5 s.
    collector.approve_scope("work", apps=("xterm",))
    took = within(5, lambda: state(rec)["state"] == "recording", "the scope to apply")
    desktop.xdotool("type", "--delay", "10", "inside the scope ")
    within(5, lambda: state(rec)["events_captured"]["key_press"] > 0, "keys to be captured")
    # Kill switch: capture stops within 5 s.
    collector.admin.pause_programme("incident drill", by="ciso@example.com")
    within(5, lambda: state(rec)["state"] == "paused" and "programme paused" in state(rec)["reason"],
           "the kill switch")
    before = state(rec)["events_captured"]["key_press"]
    desktop.xdotool("type", "--delay", "10", "during the pause ")
    assert rec.settle()["events_captured"]["key_press"] == before
    collector.admin.resume_programme(by="ciso@example.com")
    within(5, lambda: state(rec)["state"] == "recording", "the resume")
    desktop.xdotool("type", "--delay", "10", "after resume ")
    # A rotation or two: segments finish and upload in the background.
    within(15, lambda: len(collector.service.landed_rows()) >= 1, "a segment to land while recording")
    # Consent withdrawn at the collector: the recorder stops within 5 s.
    collector.admin.set_consent("erin@example.com", "withdrawn", "server", by="hr@example.com")
    t0 = time.monotonic()
    assert rec.wait(10) == 0
    assert time.monotonic() - t0 < 5, "the recorder did not stop within 5 s"
    assert cli(env, "consent", "status", "--json").stdout.count('"withdrawn"') == 1
    landed = collector.service.landed_rows()
    assert landed and {r["device_id"] for r in landed} == {dev.identity.device_id}
    assert took < 5
