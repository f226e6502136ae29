"""Erasure reaches datasets built before it: a canary in every format, and datasets moved or locked.

Two people are recorded, with their own typing, window titles, task names and screens (different
colours); datasets are built holding both, then one is erased. Afterwards no byte of hers is left
in any file of a dataset folder (Parquet values, statistics and metadata, JSONL, card, manifest),
none of her pictures is, the other person's data still loads, the card says why it was rewritten,
and the erasure report names each dataset — or, for one whose files were moved or that cannot be
written, withdraws it or names it in ``residual``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from jobshadow.datasets.build import BuildOptions, build
from jobshadow.datasets.sources import INPUT_TABLES, GovernedSource
from jobshadow.govern.dataset_registry import DatasetRegistry
from jobshadow.govern.door import Governance
from jobshadow.govern.rights import ErasureReport, erase_subject
from jobshadow.testing.lake import BuiltLake, SegmentSpec, build_lake
from tests.datasets.surfaces import found

pytestmark = pytest.mark.slow
BUILDER = "service:dataset-builder"
ALICE_TYPED = "alice-canary-Vq7Rk2"
ALICE_TITLE = "Disciplinary file of Morgan Reyes"
ALICE_TASK = "prepare the layoff list"
BOB_TYPED = "bob-keeps-9fTz"
BOB_TITLE = "Bob's quarterly notes"
ALICE = (ALICE_TYPED, ALICE_TITLE, ALICE_TASK)
ALICE_SHADES = range(0, 7)  # the colours of her screens (shade 0, 6 frames), bob's start at 8
BOB_SHADES = range(8, 13)
INTACT = ("hf", "agentnet", "osworld")


def band(k: int) -> tuple[int, int, int]:
    """RGB of colour k of the synthetic screen (painted in X11's B, G, R order)."""
    return (90, 200 - 20 * k % 200, 40 * k % 256)


def shade_of(picture: bytes) -> int | None:
    """Which synthetic colour a picture shows (None: none of them)."""
    got = Image.open(io.BytesIO(picture)).convert("RGB").getpixel((160, 80))
    assert isinstance(got, tuple)
    for k in range(16):
        if all(abs(a - b) <= 12 for a, b in zip(got, band(k), strict=True)):
            return k
    return None


def pictures(root: Path) -> list[bytes]:
    """Every image a dataset holds: files under images/, and the image column of Parquet files."""
    out = [p.read_bytes() for p in sorted(root.glob("images/*"))]
    for path in sorted(root.rglob("*.parquet")):
        if "image" in pq.read_schema(path).names:
            out += [r["bytes"] for r in pq.read_table(path, columns=["image"]).column("image").to_pylist() if r]
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltLake:
    return build_lake(tmp_path_factory.mktemp("lake"), {
        "alice@example.com": [SegmentSpec(text=f"login {ALICE_TYPED} ok", title=ALICE_TITLE, task=ALICE_TASK,
                                          screens=6, events=0)],
        "bob@example.com": [SegmentSpec(text=BOB_TYPED, title=BOB_TITLE, task="file the report", screens=4,
                                        events=0, shade=8)],
    })


@pytest.fixture(scope="module")
def gov(built: BuiltLake) -> Iterator[Governance]:
    g = Governance(built.settings)
    for table in INPUT_TABLES:
        for action in ("read", "export"):
            g.grant(BUILDER, action, table, "model_training", 3600, by="admin@example.com")
    try:
        yield g
    finally:
        g.close()


@dataclass
class Erased:
    root: Path
    report: ErasureReport
    alice: str
    before: dict[str, list[str]] = field(default_factory=dict)  # canaries found before the erasure
    alice_pictures: list[bytes] = field(default_factory=list)
    moved_file: str = ""
    locked: Path = Path()
    server_before: list[str] = field(default_factory=list)  # canaries found in the server's own files


def lock(path: Path) -> None:
    """Make a folder impossible to change, for root too (whose writes ignore mode bits)."""
    path.chmod(0o500)
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=False, capture_output=True)
    try:
        (path / ".probe").touch()
    except OSError:
        return
    (path / ".probe").unlink()
    unlock(path)
    pytest.skip("cannot make a folder unwritable here (no chattr for root)")


def unlock(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], check=False, capture_output=True)
    path.chmod(0o700)


@pytest.fixture(scope="module")
def erased(built: BuiltLake, gov: Governance, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Erased]:
    root = tmp_path_factory.mktemp("datasets")
    for fmt in (*INTACT, "moved", "gone", "locked"):
        options = BuildOptions("agentnet" if fmt == "moved" else "osworld" if fmt == "gone" else
                               "hf" if fmt == "locked" else fmt, root / fmt, principal=BUILDER, name=f"ds_{fmt}")
        build(GovernedSource(gov, BUILDER, "model_training"), options, gov)
    state = Erased(root, ErasureReport("", False, 0.0), gov.keys.pseudonym(built.people["alice@example.com"]))
    # The registry is a stored surface too: it holds pseudonyms, paths and ids, never what people did.
    state.server_before = found(built.settings.home / "server", (*ALICE, BOB_TYPED, BOB_TITLE))
    for fmt in INTACT:
        state.before[fmt] = found(root / fmt, ALICE)
        state.alice_pictures += [p for p in pictures(root / fmt) if shade_of(p) in ALICE_SHADES]
    # One of her pictures is moved out of a dataset; a whole dataset folder is moved away; one is locked.
    moved = next(p for p in sorted((root / "moved" / "images").glob("*")) if shade_of(p.read_bytes()) in ALICE_SHADES)
    state.moved_file = f"images/{moved.name}"
    (root / "elsewhere").mkdir()
    shutil.move(moved, root / "elsewhere" / moved.name)
    shutil.move(root / "gone", root / "elsewhere" / "gone")
    state.locked = root / "locked"
    lock(state.locked)
    try:
        state.report = erase_subject(gov, state.alice, by="dpo@example.com")
        yield state
    finally:
        unlock(state.locked)


def test_the_canaries_and_pictures_were_there_before(erased: Erased) -> None:
    """The searches below can fail: before the erasure they find all of her data in every format."""
    for fmt in INTACT:
        # OSWorld trajectories carry no window titles; the other formats carry all three.
        expected = {ALICE_TYPED, ALICE_TASK} if fmt == "osworld" else set(ALICE)
        assert {hit.rsplit(": ", 1)[1] for hit in erased.before[fmt]} == expected, fmt
    assert len(erased.alice_pictures) >= 3 * 5


def test_the_registry_and_the_lake_hold_nothing_in_clear(erased: Erased, built: BuiltLake) -> None:
    assert (built.settings.home / "server" / "control.db").is_file()  # where the registry lives
    assert erased.server_before == []


def test_subject_export_names_the_datasets_holding_the_person(built: BuiltLake, gov: Governance, erased: Erased,
                                                              tmp_path: Path) -> None:
    from jobshadow.govern.rights import export_subject

    bob = gov.keys.pseudonym(built.people["bob@example.com"])
    manifest = export_subject(gov, bob, tmp_path / "bob", by="dpo@example.com")
    listed = {d["name"]: d for d in manifest["datasets"]}
    assert {f"ds_{fmt}" for fmt in INTACT} <= set(listed)
    assert listed["ds_hf"]["location"] == str(erased.root / "hf") and listed["ds_hf"]["built_by"] == BUILDER
    assert any(r["table"] == "dataset:ds_hf" and r["principal"] == BUILDER for r in manifest["recipients"])


def test_no_byte_of_the_erased_person_is_left_in_any_dataset(erased: Erased) -> None:
    for fmt in INTACT:
        assert found(erased.root / fmt, ALICE) == [], fmt
        left = pictures(erased.root / fmt)
        assert left and not set(left) & set(erased.alice_pictures), fmt
        assert [shade_of(p) for p in left if shade_of(p) not in BOB_SHADES] == [], fmt
    # Nothing is left beside them either: no staging, retired or withdrawn folder.
    assert sorted(p.name for p in erased.root.iterdir() if p.name.startswith(".")) == []


def test_the_other_person_s_data_is_still_there_and_loads(erased: Erased) -> None:
    import datasets

    ds = datasets.load_dataset("parquet", data_dir=str(erased.root / "hf" / "data"), split="train")
    assert BOB_TYPED in [r["text"] for r in ds] and BOB_TITLE in [r["window_title"] for r in ds]
    assert all(shade_of(_png(r["image"])) in BOB_SHADES for r in ds if r["image"] is not None)
    tasks = pq.read_table(erased.root / "hf" / "tasks.parquet").to_pylist()
    # His marked task, and the clicks after it split off automatically (no title).
    assert sorted(str(t["title"]) for t in tasks) == ["None", "file the report"]
    for fmt, name in (("agentnet", "data.jsonl"), ("osworld", "trajectories.jsonl")):
        lines = [json.loads(line) for line in (erased.root / fmt / name).read_text().splitlines()]
        assert sorted(str(t["instruction"]) for t in lines) == ["None", "file the report"], fmt
        steps = [s for t in lines for s in t["traj" if fmt == "agentnet" else "steps"]]
        shown = [s["image"] for s in steps if s["image"]]
        assert shown and all((erased.root / fmt / image).is_file() for image in shown), fmt
        assert sorted(f"images/{p.name}" for p in (erased.root / fmt / "images").iterdir()) == sorted(shown)
        assert all(p.stat().st_mode & 0o777 == 0o600 for p in (erased.root / fmt).rglob("*") if p.is_file())
        assert (erased.root / fmt).stat().st_mode & 0o777 == 0o700


def _png(image: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")  # type: ignore[attr-defined]
    return out.getvalue()


def test_the_card_says_it_was_rewritten_and_why_with_counts_of_what_is_left(erased: Erased) -> None:
    for fmt in INTACT:
        card = (erased.root / fmt / "README.md").read_text()
        assert "after an erasure request" in card and "- rewritten on " in card, fmt
        assert "| tasks | 2 |" in card and "| tasks from contributor markers / split automatically | 1 / 1 |" in card
        manifest = json.loads((erased.root / fmt / "manifest.json").read_text())
        removed = next(d["removed"] for d in erased.report.datasets if d["dataset"] == f"ds_{fmt}")
        assert manifest["rewrites"] == [{"at": manifest["rewrites"][0]["at"], "reason": "an erasure request",
                                         **{k: removed[k] for k in ("tasks", "steps", "images")}}]
        assert removed["tasks"] == 2 and removed["steps"] >= removed["images"] >= 6
        assert f"{removed['tasks']} task(s), {removed['steps']} step(s) and {removed['images']} image(s)" in card
        assert manifest["sessions"] == 1 and len(manifest["segments"]) == 1


def test_the_report_names_every_dataset_and_the_registry_and_audit_follow(erased: Erased, gov: Governance) -> None:
    by_name = {d["dataset"]: d for d in erased.report.datasets}
    assert {by_name[f"ds_{fmt}"]["action"] for fmt in INTACT} == {"rewritten"}
    assert by_name["ds_hf"]["removed"]["tasks"] == 2 and by_name["ds_hf"]["removed"]["images"] >= 6
    reg = DatasetRegistry(gov)
    entries = {e.name: e for e in reg.entries()}
    for fmt in INTACT:
        entry = entries[f"ds_{fmt}"]
        assert entry.state == "active" and entry.history[-1]["action"] == "rewritten"
        assert erased.alice not in reg.holdings_of(entry.id, [erased.alice])  # the registry forgot her here
    assert [f for f in gov.scan() if f.kind in ("export", "plaintext")] == []  # modes kept by the rewrite
    audited = [(r.action, r.resource, r.reason) for _, r in gov.audit_records(subject=erased.alice)]
    assert ("rewrite", "dataset:ds_hf", "erasure rewrite completed") in audited
    assert ("withdraw", "dataset:ds_moved", "dataset withdrawn after an erasure request") in audited


def test_a_dataset_with_a_file_moved_out_is_withdrawn_and_the_file_named(erased: Erased, gov: Governance) -> None:
    assert not (erased.root / "moved").exists()
    outcome = next(d for d in erased.report.datasets if d["dataset"] == "ds_moved")
    assert outcome["action"] == "withdrawn"
    named = [r for r in erased.report.residual if "ds_moved" in r]
    assert len(named) == 1 and erased.moved_file in named[0] and str(erased.root / "moved") in named[0]
    assert {e.name: e.state for e in DatasetRegistry(gov).entries()}["ds_moved"] == "withdrawn"


def test_a_dataset_moved_away_or_locked_is_named_in_residual(erased: Erased) -> None:
    gone = [r for r in erased.report.residual if "ds_gone" in r]
    assert len(gone) == 1 and f"{erased.root / 'gone'} is not there" in gone[0]
    locked = [r for r in erased.report.residual if "ds_locked" in r]
    assert len(locked) == 1 and "not writable" in locked[0]
    # Honest: the locked dataset was not touched, so her data is still in it, as the residual says.
    assert found(erased.root / "locked", (ALICE_TYPED,)) != []
    assert len(erased.report.residual) == 3


def test_a_later_erasure_reaches_the_dataset_once_it_can(erased: Erased, gov: Governance) -> None:
    unlock(erased.locked)
    again = erase_subject(gov, erased.alice, by="dpo@example.com")
    assert {d["dataset"]: d["action"] for d in again.datasets}["ds_locked"] == "rewritten"
    assert found(erased.locked, ALICE) == []
    assert [r for r in again.residual if "ds_locked" in r] == []
    assert [r for r in again.residual if "ds_gone" in r]  # still away: still named


def test_the_cli_reports_each_dataset_and_fails_on_what_it_could_not_reach(built: BuiltLake, erased: Erased,
                                                                           tmp_path: Path) -> None:
    from click.testing import CliRunner

    from jobshadow.cli.main import cli
    from jobshadow.testing.door import LiveDoor

    door = LiveDoor(built.settings)  # the DPO asks the door, from their own home
    try:
        dpo, _ = door.person(tmp_path / "dpo", "dpo@example.com", ["dpo"])
        env = {"JOBSHADOW_HOME": str(dpo.root), "JOBSHADOW_CONFIG": ""}
        res = CliRunner().invoke(cli, ["subject", "erase", erased.alice, "--yes"], env=env)
        listed = CliRunner().invoke(cli, ["dataset", "list", "--json"], env=env)
    finally:
        door.stop()
    # Erasing again reaches what it can; the dataset moved away is still out of reach, and said so.
    assert res.exit_code == 1 and res.stderr.count("\n") == 1
    assert "ds_gone" in res.stderr and f"{erased.root / 'gone'} is not there" in res.stderr
    assert f"dataset ds_gone ({erased.root / 'gone'}): {erased.root / 'gone'} is not there" in res.stdout
    assert listed.exit_code == 0, listed.output
    states = {e["name"]: (e["state"], e["built_by"], e["location"]) for e in json.loads(listed.stdout)}
    assert states["ds_hf"] == ("active", BUILDER, str(erased.root / "hf"))
    assert states["ds_moved"][0] == "withdrawn" and states["ds_gone"][0] == "unreachable"
    assert erased.alice not in listed.stdout  # who is in a dataset stays in the registry
