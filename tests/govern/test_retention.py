"""Retention by label and by collection scope, on a real lake, with a simulated clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobshadow.govern.door import Governance
from jobshadow.govern.retention import enforce_retention
from jobshadow.testing.lake import BuiltLake, build_lake
from tests.govern.conftest import lake_people

pytestmark = pytest.mark.slow

STARTED = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)  # when the test segments started (testing.fleet)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltLake:
    # The scope keeps data 400 days, so the labels' own retention decides first.
    return build_lake(tmp_path_factory.mktemp("retention"), lake_people(), retention_days=400)


def _count(gov: Governance, table: str) -> int:
    return gov.tables.scan(table, ["segment_id"]).num_rows


def _prompts(gov: Governance) -> list[str]:
    data = gov.tables.scan("curated.events", ["prompt_char", "stream"], decrypt={"prompt_char"})
    return [v for v, s in zip(data.column("prompt_char").to_pylist(), data.column("stream").to_pylist(), strict=True)
            if s == "ai_prompt" and v]


def _chars(gov: Governance) -> list[str]:
    return [v for v in gov.tables.scan("curated.events", ["char"], decrypt={"char"}).column("char").to_pylist() if v]


def test_retention_follows_each_label_then_the_scope(gov: Governance) -> None:
    events, segments = _count(gov, "curated.events"), _count(gov, "curated.segments")
    assert _prompts(gov) and _chars(gov)

    nothing = enforce_retention(gov, STARTED + timedelta(days=100))
    assert nothing.rows_deleted == {} and nothing.vault_blocks_deleted == 0

    # AI prompts are kept 180 days, other typing 365: at 200 days only the prompts are gone.
    at200 = enforce_retention(gov, STARTED + timedelta(days=200))
    assert at200.vault_blocks_deleted > 0 and at200.rows_deleted == {}
    assert _prompts(gov) == [] and _chars(gov)
    assert _count(gov, "curated.events") == events

    # After 365 days input events, typed text, window titles and the screen go; window and
    # segment metadata (device_meta: 730 days, capped by the scope's 400) stays.
    windows = _count(gov, "curated.windows")
    at370 = enforce_retention(gov, STARTED + timedelta(days=370))
    assert at370.rows_deleted["curated.events"] == events
    assert _count(gov, "curated.events") == 0
    assert _count(gov, "curated.windows") == windows
    titles = gov.tables.scan("curated.windows", ["title"], decrypt={"title"}).column("title")
    assert titles.null_count == windows
    assert _count(gov, "curated.segments") == segments
    assert at370.media_removed == 1 and gov.storage.object_store.list("curated/media") == []
    assert at370.files_removed > 0

    # The scope's 400 days end everything else, the landing rows included.
    at401 = enforce_retention(gov, STARTED + timedelta(days=401))
    assert at401.rows_deleted["curated.segments"] == segments
    assert _count(gov, "curated.segments") == 0 and _count(gov, "landing.segments") == 0
    assert gov.tables.scan("curated.vault", ["segment_id"]).num_rows == 0
    runs = [r for _, r in gov.audit_records() if r.action == "retention"]
    assert len(runs) == 4 and runs[-1].detail["rows"] > 0


def test_a_short_scope_retention_wins_over_long_label_retention(tmp_path_factory: pytest.TempPathFactory) -> None:
    built = build_lake(tmp_path_factory.mktemp("short"), {"carol@example.com": lake_people()["bob@example.com"]},
                       retention_days=7)
    with Governance(built.settings) as gov:
        assert enforce_retention(gov, STARTED + timedelta(days=6)).rows_deleted == {}
        report = enforce_retention(gov, STARTED + timedelta(days=8))
        assert set(report.rows_deleted) >= {"curated.events", "curated.segments", "landing.segments"}
        assert all(_count(gov, t) == 0 for t in ("curated.events", "curated.windows", "curated.segments"))
