"""Fixtures: a live collector on loopback and enrolled devices."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jobshadow.testing.fleet import FleetDevice, LiveCollector, enrol_device


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[LiveCollector]:
    c = LiveCollector(tmp_path / "server")
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def device(collector: LiveCollector, tmp_path: Path) -> FleetDevice:
    return enrol_device(collector, tmp_path / "device", "alice@example.com")
