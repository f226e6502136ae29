"""The redact stage between landing and curated: curated media hold only read-and-filled frames.

Segments whose screens show an access key, an e-mail address and ordinary text go through the
real collector and curation; the curated media (read back through the door), and a dataset built
from them, are read with OCR. A redactor that fails withholds its frames: they are curated
without pixels and never reach a dataset.
"""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from jobshadow.datasets.build import BuildOptions, build
from jobshadow.datasets.sources import INPUT_TABLES, GovernedSource
from jobshadow.errors import InputError
from jobshadow.govern.door import PIPELINE, Governance
from jobshadow.lake import curated
from jobshadow.redact.model import RedactionResult
from jobshadow.redact.stream import StreamRedactor
from jobshadow.testing.lake import SegmentSpec, build_lake
from tests import ocr

pytestmark = pytest.mark.slow

BUILDER = "service:dataset-builder"
KEY = "AKIAZ4QXW7PLM3NRT2VB"
EMAIL = "jane.canary@example.com"
LINES = (f"export KEY={KEY}", f"mail {EMAIL}", "notes for the quarterly report")


def frames_of(gov: Governance, segment: str) -> list[object]:
    rows = gov.read(PIPELINE, "processing", curated.FRAMES.name).data.to_pylist()
    rows = sorted((r for r in rows if r["segment_id"] == segment and r["media_length"]), key=lambda r: r["frame_seq"])
    if not rows:
        return []
    media = gov.read_media(PIPELINE, "processing", segment)
    ctx = av.CodecContext.create("h264", "r")
    images = []
    for r in rows:
        for frame in ctx.decode(av.Packet(media[r["media_offset"]: r["media_offset"] + r["media_length"]])):
            images.append(frame.to_ndarray(format="rgb24"))
    return images


def test_curated_frames_show_no_secret_and_keep_ordinary_text(tmp_path: Path) -> None:
    built = build_lake(tmp_path / "lake", {"sam@example.com": [
        SegmentSpec(text="notes", screens=3, screen_text=LINES)]})
    segment = built.segments["sam@example.com"][0]
    with Governance(built.settings) as gov:
        rows = [r for r in gov.read(PIPELINE, "processing", curated.FRAMES.name).data.to_pylist()
                if r["segment_id"] == segment]
        assert rows and not any(r["withheld"] for r in rows)
        assert all(r["screen_findings"] >= 2 for r in rows if r["frame_seq"] > 0)
        images = frames_of(gov, segment)
        assert len(images) == len(rows)
        for image in images:
            seen = ocr.read(image, scale=3)
            assert not ocr.leaked(seen, [KEY, EMAIL]), seen
            assert "quarterly report" in seen, seen
        steps = [r for _, r in gov.audit_records() if r.action == "declassify" and r.resource == f"media:{segment}"]
        assert steps and "declassifier:screen_redaction" in steps[-1].policy_ids
        # A dataset built from the lake shows only what curation kept.
        for table in INPUT_TABLES:
            for action in ("read", "export"):
                gov.grant(BUILDER, action, table, "model_training", 3600, by="admin@example.com")
        out = tmp_path / "ds"
        report = build(GovernedSource(gov, BUILDER, "model_training"),
                       BuildOptions("agentnet", out, principal=BUILDER, image_format="png"), gov)
    images = [p for p in out.rglob("*") if p.suffix in (".png", ".jpg", ".jpeg")]
    assert report.steps > 0 and images
    for path in images:
        seen = ocr.read(path, scale=3)
        assert not ocr.leaked(seen, [KEY, EMAIL]), f"{path.name}: {seen}"


def test_a_frame_the_stage_cannot_check_is_withheld_and_never_shown(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: StreamRedactor, frame: object) -> RedactionResult:
        return RedactionResult(image=None, findings=(), seconds=0.0, failed=True, reason="ocr failed")

    monkeypatch.setattr(StreamRedactor, "redact", broken)
    built = build_lake(tmp_path / "lake", {"sam@example.com": [
        SegmentSpec(text="notes", screens=3, screen_text=LINES)]})
    segment = built.segments["sam@example.com"][0]
    with Governance(built.settings) as gov:
        rows = [r for r in gov.read(PIPELINE, "processing", curated.FRAMES.name).data.to_pylist()
                if r["segment_id"] == segment]
        assert rows and all(r["withheld"] and r["media_length"] == 0 for r in rows)
        assert frames_of(gov, segment) == []
        for table in INPUT_TABLES:
            for action in ("read", "export"):
                gov.grant(BUILDER, action, table, "model_training", 3600, by="admin@example.com")
        out = tmp_path / "ds"
        try:
            report = build(GovernedSource(gov, BUILDER, "model_training"),
                           BuildOptions("agentnet", out, principal=BUILDER), gov)
        except InputError:
            report = None  # nothing left to show: refused rather than written
        if report is not None:
            assert report.steps == 0 or report.removed.get("no_frame", 0) > 0
    images = [p for p in out.rglob("*") if p.suffix in (".png", ".jpg", ".jpeg")] if out.exists() else []
    assert images == []
