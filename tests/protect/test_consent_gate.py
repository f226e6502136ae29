"""Consent bound to the notice text, the capture gate, and equal treatment of every person."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from jobshadow.errors import ConsentError, StateError
from jobshadow.home import Home
from jobshadow.protect.consent import ConsentStore, notice_text, notice_version
from jobshadow.protect.gate import CaptureGate


def test_notice_covers_what_purposes_retention_and_rights() -> None:
    text = notice_text().lower()
    for needle in ("what is captured", "never captured", "purposes", "kept", "your rights", "withdraw", "pause",
                   "performance evaluation"):
        assert needle in text


def test_consent_lifecycle(tmp_path: Path) -> None:
    store = ConsentStore(Home(tmp_path / "h"))
    with pytest.raises(ConsentError, match="no consent"):
        store.require()
    store.give()
    store.require()
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    store.withdraw()
    with pytest.raises(ConsentError, match="withdrawn"):
        store.require()


def test_consent_to_an_older_notice_is_stale(tmp_path: Path) -> None:
    store = ConsentStore(Home(tmp_path / "h"))
    store.give()
    data = json.loads(store.path.read_text())
    data["notice_version"] = "0" * 16
    store.path.write_text(json.dumps(data))
    assert store.read().state == "stale"
    with pytest.raises(ConsentError, match="notice changed"):
        store.require()
    assert notice_version() != "0" * 16


def test_damaged_consent_file_is_a_clear_error(tmp_path: Path) -> None:
    store = ConsentStore(Home(tmp_path / "h"))
    store.give()
    store.path.write_text("{not json")
    with pytest.raises(StateError, match="damaged"):
        store.read()


def test_gate_pause_resume_timer_withdraw() -> None:
    g = CaptureGate()
    assert g.open
    g.pause(seconds=10)
    assert not g.open and g.status().paused_until is not None
    assert not g.tick(now_wall=g.status().paused_until - 1)
    assert g.tick(now_wall=g.status().paused_until + 1) and g.open
    g.withdraw()
    g.resume()  # resuming a pause never overrides a withdrawal
    assert not g.open and g.status().reason == "consent withdrawn"


def test_controls_have_no_exemptions() -> None:
    """No person attribute exists that the consent or gate code could consult."""
    import inspect

    import jobshadow.protect.consent as consent_mod
    import jobshadow.protect.gate as gate_mod

    source = (inspect.getsource(consent_mod) + inspect.getsource(gate_mod)).lower()
    for word in ("role", "title", "group", "executive", "manager", "exempt", "vip", "admin"):
        assert f"{word}" not in source.replace("no role, group or title", "").replace(
            "nothing here knows about roles, groups or titles", ""), word
