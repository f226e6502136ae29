"""Fixtures: a live collector on loopback, enrolled devices, and a signed client with a scope active."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jobshadow.testing.fleet import FleetDevice, LiveCollector, enrol_device
from jobshadow.upload.client import CollectorClient


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


@pytest.fixture
def client(device: FleetDevice, collector: LiveCollector) -> Iterator[CollectorClient]:
    collector.approve_scope()
    c = CollectorClient(collector.url, device.identity)
    try:
        yield c
    finally:
        c.close()
