"""Fixtures: the collector and enrolled device of tests/ingest (one definition for both suites)."""

from tests.ingest.conftest import collector, device

__all__ = ["collector", "device"]
