"""`segments export` and `segments decrypt` write the owner's decrypted recording for the owner only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobshadow.cli.main import cli
from jobshadow.home import Home
from jobshadow.testing.fleet import make_segment


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The common desktop umask (022), under which a plain open() makes world-readable files."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)) or ".": stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


def test_export_writes_0600_files_in_0700_folders(tmp_path: Path, loose_umask: None) -> None:
    home = Home(tmp_path / "home").ensure()
    seg = make_segment(home, events=20, text="my secret words", title="Private notes", screens=3)
    out = tmp_path / "export"
    res = CliRunner().invoke(cli, ["segments", "export", seg.id, "--out", str(out)],
                             env={"JOBSHADOW_HOME": str(home.root), "JOBSHADOW_CONFIG": ""})
    assert res.exit_code == 0, res.output
    modes = _modes(out)
    assert {"events.jsonl", "windows.jsonl", "frames.jsonl", "segment.json"} <= set(modes)
    pngs = [name for name in modes if name.startswith("frames/") and name.endswith(".png")]
    assert len(pngs) == 4  # the opening keyframe and one before each of the three clicks
    assert modes["."] == 0o700 and modes["frames"] == 0o700
    assert {name: m for name, m in modes.items() if name not in (".", "frames") and m != 0o600} == {}
    assert "Private notes" in (out / "windows.jsonl").read_text()  # what the modes protect


def test_export_into_an_existing_empty_folder_tightens_it(tmp_path: Path, loose_umask: None) -> None:
    home = Home(tmp_path / "home").ensure()
    seg = make_segment(home, events=10, text="abc", title="t")
    out = tmp_path / "existing"
    out.mkdir(mode=0o755)
    res = CliRunner().invoke(cli, ["segments", "export", seg.id, "--out", str(out)],
                             env={"JOBSHADOW_HOME": str(home.root), "JOBSHADOW_CONFIG": ""})
    assert res.exit_code == 0, res.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert all(m == 0o600 for name, m in _modes(out).items() if name not in (".", "frames"))


def test_decrypt_writes_an_owner_only_file(tmp_path: Path, loose_umask: None) -> None:
    home = Home(tmp_path / "home").ensure()
    seg = make_segment(home, events=10, text="abc", title="t")
    out = tmp_path / "plain.mcap"
    res = CliRunner().invoke(cli, ["segments", "decrypt", seg.id, "--out", str(out)],
                             env={"JOBSHADOW_HOME": str(home.root), "JOBSHADOW_CONFIG": ""})
    assert res.exit_code == 0, res.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and out.read_bytes().startswith(b"\x89MCAP")
