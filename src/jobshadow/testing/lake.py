"""A populated, governed lake built the real way, for tests, benchmarks and the demo.

Real collector on loopback, real enrolled devices, real sealed segments uploaded with the real
uploader, then curated through the governance door. Each person's segments are described by
``SegmentSpec``s (typed text, window title, application, task title).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobshadow.config import Settings, UploadSettings
from jobshadow.durations import Duration
from jobshadow.testing.fleet import LiveCollector, enrol_device, make_segment


@dataclass(frozen=True)
class SegmentSpec:
    text: str = ""
    title: str | None = "Terminal"
    app: str = "xterm"
    task: str | None = None
    events: int = 50
    video_bytes: int = 0
    screens: int = 0
    shade: int = 0  # first colour of the synthetic screens
    screen_text: tuple[str, ...] = ()  # lines of text the synthetic screens show


@dataclass
class BuiltLake:
    settings: Settings
    people: dict[str, str] = field(default_factory=dict)  # e-mail -> control-plane person id
    segments: dict[str, list[str]] = field(default_factory=dict)  # e-mail -> segment ids


def quiet_kill_switch(settings: Settings, pause: bool = False) -> Settings:
    """``settings`` with ``[govern] pause_on_findings`` set to ``pause``.

    A built lake is shared by many tests, and some plant what the exposure scan exists to find; a
    finding pauses the programme, and reads through the door with it, until a reviewer resumes it.
    So the lake's settings do not pause; a test of the kill switch asks for it (``pause=True``).
    """
    import msgspec

    return msgspec.structs.replace(settings, govern=msgspec.structs.replace(settings.govern,
                                                                            pause_on_findings=pause))


def build_lake(root: Path, people: dict[str, list[SegmentSpec]], *, purposes: tuple[str, ...] = ("model_training",),
               retention_days: int = 30, curate: bool = True, **scope: Any) -> BuiltLake:
    """Land every person's segments through a real collector and (by default) curate them."""
    from jobshadow.upload.uploader import Uploader

    collector = LiveCollector(root / "server")
    try:
        stamp = collector.approve_scope("work", apps=("xterm", "xedit", "firefox", "chromium"),
                                        purposes=list(purposes), retention_days=retention_days, **scope)
        built = BuiltLake(quiet_kill_switch(collector.settings))
        for n, (email, specs) in enumerate(sorted(people.items())):
            device = enrol_device(collector, root / f"device-{n}", email)
            built.people[email] = device.identity.person_id
            built.segments[email] = []
            for i, spec in enumerate(specs):
                seg = make_segment(device.home, events=spec.events, video_bytes=spec.video_bytes, index=i + 1,
                                   text=spec.text, title=spec.title, app=spec.app, task=spec.task,
                                   screens=spec.screens, shade=spec.shade, screen_text=spec.screen_text,
                                   scope=stamp)
                built.segments[email].append(seg.id)
            uploader = Uploader(device.home, UploadSettings(auto_approve_after=Duration(0), bandwidth_bytes_per_s=0),
                                device.identity, device.key)
            try:
                stats = uploader.run_once()
            finally:
                uploader.close()
            if stats.landed != len(specs):
                raise RuntimeError(f"only {stats.landed} of {len(specs)} segments of {email} landed: {stats}")
    finally:
        collector.stop()
    if curate:
        from jobshadow.curate import curate as run_curation
        from jobshadow.govern import Governance

        with Governance(built.settings) as gov:
            report = run_curation(gov)
            if report.failed:
                raise RuntimeError(f"curation failed for {report.failed} segments")
    return built
