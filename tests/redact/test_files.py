"""``jobshadow redact frames`` through click's runner: outputs, permissions, JSON, bad input."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from jobshadow.cli.main import cli
from jobshadow.redact import RedactionResult, StreamRedactor
from tests.redact._screens import screen

SECRET = "AKIAZ4QXW7PLM3NRT2VB"


@pytest.fixture
def frames(tmp_path: Path) -> list[Path]:
    src = tmp_path / "in"
    src.mkdir()
    a, b = src / "a.png", src / "b.jpg"
    Image.fromarray(screen([f"key {SECRET} here", "plain words only"])).save(a)
    Image.fromarray(screen(["plain words only", "nothing else"])).save(b, quality=95)
    return [a, b]


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli, ["redact", "frames", *args])
    return res.exit_code, res.stdout, res.stderr


def test_redacted_pngs_are_private_and_findings_reported(frames: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, stdout, _ = run(*map(str, frames), "--out", str(out), "--json")
    assert code == 0
    report = json.loads(stdout)
    assert [f["file"] for f in report["frames"]] == ["a.png", "b.jpg"]
    assert [f["kind"] for f in report["frames"][0]["findings"]] == ["aws_access_key"]
    assert len(report["frames"][0]["findings"][0]["box"]) == 4
    assert report["frames"][1]["findings"] == []
    assert report["seconds_per_frame"] > 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in out.iterdir())


@pytest.mark.parametrize("case", ["missing", "not_image", "same_dir", "clash"])
def test_bad_input_is_one_line_and_nothing_is_written(frames: list[Path], tmp_path: Path, case: str) -> None:
    out = tmp_path / "out"
    args = [str(p) for p in frames]
    if case == "missing":
        args.append(str(tmp_path / "nope.png"))
    elif case == "not_image":
        fake = tmp_path / "in" / "fake.png"
        fake.write_text("hello")
        args.append(str(fake))
    elif case == "same_dir":
        out = frames[0].parent
    else:
        clash = tmp_path / "other"
        clash.mkdir()
        Image.new("RGB", (10, 10)).save(clash / "a.jpg")
        args.append(str(clash / "a.jpg"))
    code, _, stderr = run(*args, "--out", str(out))
    assert code == 1
    assert stderr.startswith("Error: ") and stderr.count("\n") == 1
    if case != "same_dir":
        assert not out.exists()


def test_a_failed_frame_is_not_written(frames: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(self: StreamRedactor, frame: object) -> RedactionResult:
        return RedactionResult(None, (), 0.0, failed=True, reason="OCR timed out")

    monkeypatch.setattr(StreamRedactor, "redact", failing)
    out = tmp_path / "out"
    code, stdout, stderr = run(str(frames[0]), "--out", str(out), "--json")
    assert code == 1
    assert json.loads(stdout)["frames"][0] == {"file": "a.png", "findings": [], "failed": True,
                                               "reason": "OCR timed out"}
    assert "a.png: not written: OCR timed out" in stderr
    assert list(out.iterdir()) == []
