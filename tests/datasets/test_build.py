"""Dataset builds on a real governed lake and on local segments: formats, frames, card, governance, engines."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from jobshadow.datasets.build import BuildOptions, BuildReport, build
from jobshadow.datasets.sources import INPUT_TABLES, GovernedSource, LocalSource
from jobshadow.errors import InputError
from jobshadow.govern.door import Governance, PolicyDenied
from jobshadow.testing.lake import BuiltLake, SegmentSpec, build_lake
from tests.datasets.surfaces import found

pytestmark = pytest.mark.slow
BUILDER = "service:dataset-builder"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltLake:
    return build_lake(tmp_path_factory.mktemp("lake"), {
        "alice@example.com": [SegmentSpec(text="hello world", title="notes", task="write a note", screens=5, events=0),
                              SegmentSpec(text="second", title="notes", screens=3, events=0)],
        "bob@example.com": [SegmentSpec(text="bob", title="Bob notes", screens=4, events=0)],
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


def run(gov: Governance, out: Path, fmt: str, **kw: object) -> BuildReport:
    options = BuildOptions(fmt, out, principal=BUILDER, **kw)  # type: ignore[arg-type]
    return build(GovernedSource(gov, BUILDER, "model_training"), options, gov)


def test_hf_dataset_loads_with_images_that_show_the_screen_before_each_click(gov: Governance,
                                                                               tmp_path: Path) -> None:
    import datasets

    report = run(gov, tmp_path / "hf", "hf", name="lake_hf")
    assert report.tasks >= 2 and report.actions["click"] == 12 and report.actions["write"] >= 3
    ds = datasets.load_dataset("parquet", data_dir=str(tmp_path / "hf" / "data"), split="train")
    assert isinstance(ds.features["image"], datasets.Image)
    assert len(ds) == report.steps
    clicks = [r for r in ds if r["action_type"] == "click"]
    for row in clicks:
        # Frame k of each synthetic segment shows colour band k and is followed by a click; the step
        # must show that frame (the screen before the click), not the next one.
        k = row["frame_seq"] - 1
        # The synthetic screen is painted in X11's byte order (B, G, R, A).
        expected = (90, 200 - 20 * k % 200, 40 * k % 256)
        got = row["image"].convert("RGB").getpixel((160, 80))
        assert all(abs(a - b) <= 12 for a, b in zip(got, expected, strict=True)), (row["frame_seq"], got, expected)
        assert row["frame_t"] <= row["t_start"]
    writes = [r["text"] for r in ds if r["action_type"] == "write"]
    assert "hello world" in writes and "bob" in writes
    card = (tmp_path / "hf" / "README.md").read_text()
    for needle in ("## Labels and purposes", "typed_text", "## Filters applied", "| unpaired |", "## Schema",
                   "datasets.lake_hf", "data/train-*.parquet"):
        assert needle in card


def test_the_dataset_is_a_derived_table_of_the_lake_with_every_input_label(gov: Governance, tmp_path: Path) -> None:
    report = run(gov, tmp_path / "labels", "osworld", name="lake_labels")
    assert report.dataset_table == "datasets.lake_labels"
    defn = gov.tables.definition("datasets.lake_labels")
    inputs = set().union(*(gov.tables.definition(t).labels for t in INPUT_TABLES))
    assert defn.labels >= inputs
    assert defn.column("text").sealed and defn.column("window_title").sealed
    assert gov.lineage("datasets.lake_labels") == sorted(INPUT_TABLES) or set(gov.lineage("datasets.lake_labels")) \
        == set(INPUT_TABLES)
    assert any(e["location"] == str((tmp_path / "labels").resolve()) for e in gov.state.exports())
    assert gov.scan() == []
    # The lake copy holds no typed text in clear.
    for path in gov.storage.paths.warehouse.rglob("*.parquet"):
        if "lake_labels" in str(path):
            text = "\n".join(str(v) for col in pq.read_table(path).columns for v in col.to_pylist())
            assert "hello world" not in text


def test_the_card_s_label_rule_agrees_with_its_purpose(gov: Governance, tmp_path: Path) -> None:
    from jobshadow.govern.purposes import registry

    run(gov, tmp_path / "rule", "agentnet", name="label_rule")
    card = (tmp_path / "rule" / "README.md").read_text()
    section = card.split("## Labels and purposes", 1)[1].split("## Filters applied", 1)[0]
    rows = [line.split("|")[1:4] for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    labels = {name.strip(): {p.strip() for p in purposes.split(",")} for name, purposes, _ in rows if name.strip()
              != "label"}
    assert labels and "subject_identity" not in labels and "subject_identity" not in card
    assert all("model_training" in purposes for purposes in labels.values()), labels
    allowed = sorted(registry().allowed_purposes(labels))
    assert f"allows: **{', '.join(allowed)}**" in section and "model_training" in allowed
    # The rule is enforced, not only written: a purpose one of the labels excludes is refused.
    with pytest.raises(InputError, match="refused: a dataset holds"):
        run(gov, tmp_path / "audit", "agentnet", name="for_audit", purpose="privacy_audit")


def test_dataset_files_carry_no_identity(built: BuiltLake, gov: Governance, tmp_path: Path) -> None:
    people = list(built.people.values())
    devices = [d for d in gov.tables.scan("curated.segments", ["device_id"]).column("device_id").to_pylist() if d]
    needles = [*built.people, *people, *(gov.keys.pseudonym(p) for p in people), *devices]
    assert len(devices) == 3 and len(needles) == 9
    for fmt in ("hf", "agentnet", "osworld"):
        run(gov, tmp_path / fmt, fmt, name=f"anonymous_{fmt}")
        assert found(tmp_path / fmt, needles) == [], fmt
    names = set(pq.read_schema(next((tmp_path / "hf" / "data").glob("*.parquet"))).names)
    names |= set(pq.read_schema(tmp_path / "hf" / "tasks.parquet").names)
    assert not names & {"subject", "device_id", "person_id", "person"}
    # …while the registry knows whose rows each file holds, and who built it where.
    from jobshadow.govern.dataset_registry import DatasetRegistry

    reg = DatasetRegistry(gov)
    entry = next(e for e in reg.entries() if e.name == "anonymous_hf")
    assert (entry.location, entry.format, entry.principal, entry.state, entry.lake_table) == (
        str((tmp_path / "hf").resolve()), "hf", BUILDER, "active", "datasets.anonymous_hf")
    assert reg.files_of(entry.id) == {"data/train-00000-of-00001.parquet", "tasks.parquet", "README.md",
                                      "manifest.json"}
    subjects = {gov.keys.pseudonym(p) for p in people}
    held = reg.holdings_of(entry.id, subjects)
    assert set(held) == subjects and all(h["file"] >= {"data/train-00000-of-00001.parquet"} for h in held.values())
    assert {e["location"] for e in gov.state.exports()} >= {entry.location}


def test_agentnet_and_osworld_formats(gov: Governance, tmp_path: Path) -> None:
    run(gov, tmp_path / "an", "agentnet")
    tasks = [json.loads(line) for line in (tmp_path / "an" / "data.jsonl").read_text().splitlines()]
    step = tasks[0]["traj"][0]
    assert step["image"].startswith("images/") and (tmp_path / "an" / step["image"]).exists()
    assert step["value"]["code"].startswith("pyautogui.") and step["value"]["action"]
    run(gov, tmp_path / "os", "osworld")
    lines = [json.loads(line) for line in (tmp_path / "os" / "trajectories.jsonl").read_text().splitlines()]
    codes = [s["code"] for t in lines for s in t["steps"]]
    assert all(c == "DONE" or c.startswith("pyautogui.") or c == "WAIT" for c in codes)
    clicks = [c for c in codes if c.startswith("pyautogui.click(")]
    # Normalised coordinates in [0, 1] with four decimals, as OSWorld's pyautogui actions.
    assert clicks and all(re.fullmatch(r"pyautogui\.click\(x=[01]\.\d{4}, y=[01]\.\d{4}\)", c) for c in clicks), clicks
    assert (tmp_path / "os").stat().st_mode & 0o777 == 0o700


def test_a_builder_without_export_grants_is_refused(gov: Governance, tmp_path: Path) -> None:
    gov.state.add_member("service:other", "group:readers")
    for table in INPUT_TABLES:
        gov.grant("group:readers", "read", table, "model_training", 3600, by="admin@example.com")
    with pytest.raises(PolicyDenied, match="may not derive"):
        build(GovernedSource(gov, "service:other", "model_training"),
              BuildOptions("hf", tmp_path / "x", principal="service:other", name="not_allowed"), gov)
    with pytest.raises(PolicyDenied):
        build(GovernedSource(gov, "service:nobody", "model_training"),
              BuildOptions("hf", tmp_path / "y", principal="service:nobody"), gov)
    # Nothing of the refused build is left on disk: no dataset folder, no staging folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_dataset_name_already_in_the_lake_is_refused(gov: Governance, tmp_path: Path) -> None:
    run(gov, tmp_path / "first", "agentnet", name="taken_name")
    with pytest.raises(InputError, match="already in the lake"):
        run(gov, tmp_path / "second", "agentnet", name="taken_name")
    assert not (tmp_path / "second").exists()


def test_the_cli_builds_and_refuses_bad_input(built: BuiltLake, gov: Governance, tmp_path: Path) -> None:
    """A researcher asks the door for the build; it reads as them, within their grants."""
    from jobshadow.cli.main import cli
    from jobshadow.testing.door import LiveDoor

    researcher = "person:builder@example.com"
    for table in INPUT_TABLES:
        for action in ("read", "export"):
            gov.grant(researcher, action, table, "model_training", 3600, by="admin@example.com")
    door = LiveDoor(built.settings)
    try:
        home, _ = door.person(tmp_path / "builder", "builder@example.com", ["researcher"])
        _cli_build(cli, home.root, tmp_path)
        mine = [e for e in gov.state.exports() if e["kind"] == "dataset"]
        assert mine and mine[-1]["principal"] == researcher  # built as the person who asked
    finally:
        door.stop()


def _cli_build(cli: Any, home: Path, tmp_path: Path) -> None:
    env = {"JOBSHADOW_HOME": str(home)}
    r = CliRunner().invoke(cli, ["dataset", "build", "--format", "hf", "--out", str(tmp_path / "c"), "--json",
                                 "--name", "cli_hf"], env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["dataset_table"] == "datasets.cli_hf"
    again = CliRunner().invoke(cli, ["dataset", "build", "--format", "hf", "--out", str(tmp_path / "c")], env=env)
    assert again.exit_code == 1 and "not empty" in again.stderr
    bad = CliRunner().invoke(cli, ["dataset", "build", "--format", "hf", "--out", str(tmp_path / "d"),
                                   "--name", "Bad Name"], env=env)
    assert bad.exit_code == 1 and "names are lower-case" in bad.stderr
    forbidden = CliRunner().invoke(cli, ["dataset", "build", "--format", "hf", "--out", str(tmp_path / "e"),
                                         "--purpose", "performance_evaluation"], env=env)
    assert forbidden.exit_code == 1 and "refused" in forbidden.stderr


def test_erasing_a_person_removes_them_from_datasets_in_the_lake(built: BuiltLake, gov: Governance,
                                                                   tmp_path: Path) -> None:
    from jobshadow.govern.expr import eq
    from jobshadow.govern.rights import erase_subject

    run(gov, tmp_path / "er", "hf", name="before_erasure")
    bob = gov.keys.pseudonym(built.people["bob@example.com"])
    assert gov.tables.scan("datasets.before_erasure", ["subject"], eq("subject", bob)).num_rows > 0
    report = erase_subject(gov, bob, by="dpo@example.com")
    assert report.rows_deleted["datasets.before_erasure"] > 0 and report.residual == []
    after = run(gov, tmp_path / "er2", "hf", name="after_erasure")
    ds = pq.read_table(tmp_path / "er2" / "data").to_pylist()
    assert "bob" not in [r["text"] for r in ds] and after.tasks >= 1


def test_local_segments_build_the_same_way(tmp_path: Path) -> None:
    from jobshadow.home import Home
    from jobshadow.spool.keys import load_spool_key
    from jobshadow.spool.store import SpoolStore
    from jobshadow.testing.fleet import make_segment

    home = Home(tmp_path / "device").ensure()
    make_segment(home, events=20, text="local text", title="notes", screens=4)
    folder = SpoolStore(home).dir
    report = build(LocalSource(Path(folder), load_spool_key(home, "file", create=False)),
                   BuildOptions("osworld", tmp_path / "out"))
    assert report.actions["click"] == 4 and report.actions["write"] == 1 and report.dataset_table is None
    card = (tmp_path / "out" / "README.md").read_text()
    assert "own local segments" in card


@pytest.mark.timeout(600)
def test_local_and_ray_engines_build_identical_datasets(gov: Governance, tmp_path: Path) -> None:
    run(gov, tmp_path / "local", "hf", engine="local", name="same_local")
    run(gov, tmp_path / "ray", "hf", engine="ray", name="same_ray")

    def digest(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*.parquet"))}

    local, ray = digest(tmp_path / "local"), digest(tmp_path / "ray")
    assert local and local == ray
