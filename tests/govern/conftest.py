"""A real governed lake (collector, uploads, curation) shared by a test module, and canaries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jobshadow.govern.door import Governance
from jobshadow.testing.lake import BuiltLake, SegmentSpec, build_lake

# Planted in what people type and what their windows show: must never be stored in clear.
TYPED_CANARY = "canary-hunter2-Zq8v"
TITLE_CANARY = "Salary review of Dana Whitfield"
PROMPT_CANARY = "draft a warning letter for Jordan"
ML = "person:ml@example.com"


def lake_people() -> dict[str, list[SegmentSpec]]:
    return {
        "alice@example.com": [
            SegmentSpec(text=f"login {TYPED_CANARY} done", title=TITLE_CANARY, task="update the salary sheet"),
            SegmentSpec(text=PROMPT_CANARY, title="ChatGPT - Chromium", app="chromium", screens=2),
        ],
        "bob@example.com": [SegmentSpec(text="bob writes notes", title="Notes - xedit", app="xedit")],
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltLake:
    return build_lake(tmp_path_factory.mktemp("lake"), lake_people())


@pytest.fixture(scope="module")
def gov(built: BuiltLake) -> Iterator[Governance]:
    g = Governance(built.settings)
    g.add_member(ML, "group:ml-team", by="admin@example.com")
    for table in ("curated.events", "curated.windows", "curated.segments", "curated.frames", "curated.markers"):
        g.grant("group:ml-team", "read", table, "model_training", 3600, by="admin@example.com")
    try:
        yield g
    finally:
        g.close()


def server_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())
