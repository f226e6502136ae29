"""An erasure killed while rewriting a dataset: nothing half-done looks complete, the next one finishes.

The erasure runs in a child process that dies for real (``os._exit``) at the two worst moments:
while the new copy is being written, and between the two renames that swap it in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jobshadow.datasets.build import BuildOptions, build
from jobshadow.datasets.sources import INPUT_TABLES, GovernedSource
from jobshadow.govern.dataset_registry import DatasetRegistry
from jobshadow.govern.door import Governance
from jobshadow.govern.rights import erase_subject
from jobshadow.testing.lake import BuiltLake, SegmentSpec, build_lake
from tests.datasets.surfaces import found

pytestmark = pytest.mark.slow
BUILDER = "service:dataset-builder"
TYPED = {"carol": "carol-types-Hq3", "dave": "dave-types-Xw8", "erin": "erin-types-Lp5"}

CHILD = """
import os, sys
from jobshadow.config import load_settings
from jobshadow.datasets.rewrite import rewrite_dataset
from jobshadow.govern.door import Governance
from jobshadow.govern.rights import erase_subject

home, subject, where = sys.argv[1:4]

def dies_while_rewriting(source, staging, drop_tasks, drop_segments, note):
    rewrite_dataset(source, staging, drop_tasks, drop_segments, note)
    # As if the process died before the card and manifest were written.
    (staging / "README.md").unlink()
    (staging / "manifest.json").unlink()
    os._exit(3)

rename = os.rename

def dies_between_renames(src, dst):
    rename(src, dst)
    if ".erased-" in str(dst):  # the old copy is out of place, the new one not yet in it
        os._exit(3)

if where == "swap":
    os.rename = dies_between_renames
gov = Governance(load_settings(environ={"JOBSHADOW_HOME": home}))
erase_subject(gov, subject, "dpo@example.com", rewriter=dies_while_rewriting if where == "rewrite" else None)
os._exit(0)
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltLake:
    return build_lake(tmp_path_factory.mktemp("lake"), {
        f"{who}@example.com": [SegmentSpec(text=text, title=f"{who} window", screens=3, events=0, shade=4 * i)]
        for i, (who, text) in enumerate(TYPED.items())})


@pytest.fixture(scope="module")
def root(built: BuiltLake, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("datasets")
    with Governance(built.settings) as gov:
        for table in INPUT_TABLES:
            for action in ("read", "export"):
                gov.grant(BUILDER, action, table, "model_training", 3600, by="admin@example.com")
        for name, fmt in (("first", "hf"), ("second", "agentnet")):
            build(GovernedSource(gov, BUILDER, "model_training"),
                  BuildOptions(fmt, root / name, principal=BUILDER, name=f"crash_{name}"), gov)
    return root


def _die_erasing(built: BuiltLake, who: str, where: str) -> str:
    with Governance(built.settings) as gov:
        subject = gov.keys.pseudonym(built.people[f"{who}@example.com"])
    child = subprocess.run([sys.executable, "-c", CHILD, str(built.settings.home), subject, where],
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == 3, child.stderr[-2000:]
    return subject


def _state(gov: Governance, name: str) -> str:
    return next(e.state for e in DatasetRegistry(gov).entries() if e.name == name)


def test_dying_while_rewriting_leaves_the_dataset_whole_and_the_next_erasure_finishes(
        built: BuiltLake, root: Path) -> None:
    carol = _die_erasing(built, "carol", "rewrite")
    first = root / "first"
    # In place: the old dataset, whole (card, manifest, her typing). Beside it: a hidden, half copy
    # that does not look like a dataset (no card, no manifest).
    assert (first / "README.md").is_file() and found(first, (TYPED["carol"],)) != []
    halves = [p for p in root.iterdir() if p.name.startswith(".first.rewrite-")]
    assert len(halves) == 1 and list(halves[0].rglob("*.parquet")) and not (halves[0] / "README.md").exists()
    with Governance(built.settings) as gov:
        assert _state(gov, "crash_first") == "rewriting"
        report = erase_subject(gov, carol, by="dpo@example.com")
        assert report.residual == []
        assert {d["dataset"]: d["action"] for d in report.datasets} == {"crash_first": "rewritten",
                                                                        "crash_second": "rewritten"}
        history = next(e.history for e in DatasetRegistry(gov).entries() if e.name == "crash_first")
        assert [h["action"] for h in history] == ["rewrite interrupted", "rewritten"]
    assert found(root, (TYPED["carol"], "carol window")) == []
    assert found(first, (TYPED["erin"],)) != []
    assert sorted(p.name for p in root.iterdir()) == ["first", "second"]


def test_dying_between_the_renames_is_finished_by_the_next_erasure(built: BuiltLake, root: Path) -> None:
    dave = _die_erasing(built, "dave", "swap")
    first = root / "first"
    assert not first.exists()  # the one moment the location is empty: never half full
    staged = [p for p in root.iterdir() if p.name.startswith(".first.rewrite-")]
    assert len(staged) == 1 and (staged[0] / "README.md").is_file() and found(staged[0], (TYPED["dave"],)) == []
    with Governance(built.settings) as gov:
        assert _state(gov, "crash_first") == "swapping"
        report = erase_subject(gov, dave, by="dpo@example.com")
        assert report.residual == []
        assert [d["dataset"] for d in report.datasets] == ["crash_first", "crash_second"]
        assert _state(gov, "crash_first") == "active"
    # The swap the child began was finished, not redone (a redone rewrite would remove nothing).
    rewrites = json.loads((first / "manifest.json").read_text())["rewrites"]
    assert rewrites and all(r["tasks"] > 0 for r in rewrites)
    assert "after an erasure request" in (first / "README.md").read_text()
    assert found(root, (TYPED["dave"], "dave window")) == []
    assert found(first, (TYPED["erin"],)) != [] and found(root / "second", (TYPED["erin"],)) != []
    assert sorted(p.name for p in root.iterdir()) == ["first", "second"]
