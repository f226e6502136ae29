"""Shared fixtures: a real X desktop per test, and an isolated JOBSHADOW_HOME."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jobshadow.testing.xdesktop import Desktop, have_x_tools


@pytest.fixture
def desktop() -> Iterator[Desktop]:
    if not have_x_tools():
        pytest.fail("Xvfb, xdotool, openbox, xterm and xprop are required (make setup installs them)")
    d = Desktop()
    try:
        yield d
    finally:
        d.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir(mode=0o700)
    return h
