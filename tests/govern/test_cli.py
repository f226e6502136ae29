"""The governance CLI on a real lake: query, audit verify/who, govern, subject export/erase."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from jobshadow.cli.main import cli
from jobshadow.testing.lake import BuiltLake
from tests.govern.conftest import ML, TITLE_CANARY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(built: BuiltLake) -> object:
    env = {"JOBSHADOW_HOME": str(built.settings.home)}
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli, list(args), env=env)

    assert invoke("govern", "member", "add", ML, "group:ml-team", "--by", "person:admin@example.com").exit_code == 0
    for table in ("curated.events", "curated.windows"):
        r = invoke("govern", "grant", "group:ml-team", "read", table, "--purpose", "model_training", "--for", "2h",
                   "--by", "person:admin@example.com")
        assert r.exit_code == 0, r.output
    return invoke


def test_query_for_model_training_returns_rows(run: object) -> None:
    r = run("query", "--as", ML, "--purpose", "model_training", "--json",  # type: ignore[operator]
            "SELECT kind, count(*) AS n FROM curated.events GROUP BY kind ORDER BY kind")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert {row["kind"] for row in rows} >= {"key_press", "mouse_move"}


def test_query_for_a_forbidden_purpose_is_refused_with_one_line(run: object) -> None:
    r = run("query", "--as", ML, "--purpose", "performance_evaluation",  # type: ignore[operator]
            "SELECT count(*) FROM curated.events")
    assert r.exit_code == 1
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("Error: refused:")
    assert "forbid-prohibited-purposes" in r.stderr


def test_query_output_as_a_table(run: object) -> None:
    r = run("query", "--as", ML, "--purpose", "model_training",  # type: ignore[operator]
            "SELECT title FROM curated.windows ORDER BY title")
    assert r.exit_code == 0 and TITLE_CANARY in r.stdout


def test_query_result_size_is_capped(run: object) -> None:
    r = run("query", "--as", ML, "--purpose", "model_training", "--max-rows", "2",  # type: ignore[operator]
            "SELECT kind FROM curated.events")
    assert r.exit_code == 1 and "more than 2 rows" in r.stderr


def test_audit_who_answers_who_read_a_table(run: object) -> None:
    run("query", "--as", ML, "--purpose", "model_training", "SELECT count(*) FROM curated.windows")  # type: ignore[operator]
    # A refused read of its own, so the test does not lean on an earlier test's.
    run("query", "--as", ML, "--purpose", "performance_evaluation",  # type: ignore[operator]
        "SELECT count(*) FROM curated.windows")
    r = run("audit", "who", "--table", "curated.windows", "--json")  # type: ignore[operator]
    assert r.exit_code == 0
    rows = json.loads(r.stdout)
    assert any(x["principal"] == ML and x["purpose"] == "model_training" and x["decision"] == "allow" for x in rows)
    denied = json.loads(run("audit", "who", "--denied", "--json").stdout)  # type: ignore[operator]
    assert any(x["purpose"] == "performance_evaluation" for x in denied)
    since = json.loads(run("audit", "who", "--since", "2999-01-01", "--json").stdout)  # type: ignore[operator]
    assert since == []
    assert run("audit", "who", "--since", "yesterday").exit_code == 1  # type: ignore[operator]


def test_audit_who_by_subject(run: object, built: BuiltLake) -> None:
    from jobshadow.govern.door import Governance

    with Governance(built.settings) as gov:
        subject = gov.keys.pseudonym(built.people["alice@example.com"])
    r = run("audit", "who", "--subject", subject, "--json")  # type: ignore[operator]
    assert r.exit_code == 0
    assert any(x["principal"] == ML for x in json.loads(r.stdout))


def test_govern_listings(run: object) -> None:
    tables = json.loads(run("govern", "tables", "--json").stdout)  # type: ignore[operator]
    events = next(t for t in tables if t["table"] == "curated.events")
    assert "typed_text" in events["labels"] and "char" in events["sealed"]
    purposes = json.loads(run("govern", "purposes", "--json").stdout)  # type: ignore[operator]
    assert "performance_evaluation" in purposes["forbidden"]
    grants = json.loads(run("govern", "grants", "--json").stdout)  # type: ignore[operator]
    assert {g["table"] for g in grants if g["principal"] == "group:ml-team"} >= {"curated.events", "curated.windows"}
    principals = json.loads(run("govern", "principal", "list", "--json").stdout)  # type: ignore[operator]
    assert any(p["id"] == "group:ml-team" and p["members"] >= 1 for p in principals)


def test_granting_a_forbidden_purpose_fails(run: object) -> None:
    r = run("govern", "grant", ML, "read", "curated.events", "--purpose", "hr_investigation",  # type: ignore[operator]
            "--for", "1h")
    assert r.exit_code == 1 and "forbidden" in r.stderr


def _writable(con: sqlite3.Connection) -> None:
    """Whoever can write the file can drop the append-only triggers: they are no defence."""
    for table in ("leaves", "nodes", "heads"):
        for op in ("update", "delete"):
            con.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op}")


@pytest.fixture
def small_log(tmp_path: Path) -> tuple[Path, object]:
    """A fresh server home whose audit log has records and published heads (tampered freely)."""
    from jobshadow.config import load_settings
    from jobshadow.govern.door import Governance, PolicyDenied

    home = tmp_path / "home"
    with Governance(load_settings(environ={"JOBSHADOW_HOME": str(home)})) as gov:
        for i in range(12):
            with pytest.raises(PolicyDenied):
                gov.read(f"person:p{i}@example.com", "model_training", "curated.events")
            gov.publish_head()
    runner = CliRunner()
    return home / "server" / "audit.db", lambda *a: runner.invoke(cli, list(a), env={"JOBSHADOW_HOME": str(home)})


def test_audit_verify_passes_then_catches_an_edited_record(small_log: tuple[Path, object]) -> None:
    db, run = small_log
    ok = run("audit", "verify", "--json")  # type: ignore[operator]
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["ok"] is True
    with sqlite3.connect(db) as con:
        _writable(con)
        idx, leaf = con.execute("SELECT idx, leaf FROM leaves ORDER BY idx LIMIT 1").fetchone()
        con.execute("UPDATE leaves SET leaf=? WHERE idx=?", (bytes(leaf).replace(b"deny", b"allo"), idx))
    bad = run("audit", "verify", "--json")  # type: ignore[operator]
    assert bad.exit_code == 1
    assert {p["kind"] for p in json.loads(bad.stdout)["problems"]} & {"leaf_hash", "head_root"}


def test_audit_verify_catches_a_truncated_log_against_published_heads(small_log: tuple[Path, object]) -> None:
    db, run = small_log
    with sqlite3.connect(db) as con:  # cut the tail, and every head the log kept itself
        _writable(con)
        top = con.execute("SELECT max(idx) FROM leaves").fetchone()[0]
        con.execute("DELETE FROM leaves WHERE idx > ?", (top - 3,))
        con.execute("DELETE FROM nodes")
        con.execute("DELETE FROM heads")
    bad = run("audit", "verify", "--json")  # type: ignore[operator]
    assert bad.exit_code == 1
    assert "head_beyond_tree" in {p["kind"] for p in json.loads(bad.stdout)["problems"]}


def test_subject_export_and_erase(run: object, built: BuiltLake, tmp_path: Path) -> None:
    person = built.people["bob@example.com"]
    out = tmp_path / "bob"
    r = run("subject", "export", person, "--out", str(out), "--by", "person:dpo@example.com")  # type: ignore[operator]
    assert r.exit_code == 0, r.output
    assert (out / "manifest.json").exists()
    r = run("subject", "erase", person, "--json")  # type: ignore[operator]
    assert r.exit_code == 1  # asks for confirmation: aborted without --yes
    r = run("subject", "erase", person, "--yes", "--json", "--by", "person:dpo@example.com")  # type: ignore[operator]
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["key_destroyed"] and report["residual"] == [] and report["unreadable_after_s"] <= 1
    again = run("subject", "export", person, "--out", str(tmp_path / "again"))  # type: ignore[operator]
    assert again.exit_code == 0
    manifest = json.loads((tmp_path / "again" / "manifest.json").read_text())
    assert manifest["erased"] is True and manifest["tables"] == {}
    assert run("subject", "erase", "nobody-at-all", "--yes").exit_code == 1  # type: ignore[operator]


def test_curate_run_is_idempotent(run: object) -> None:
    r = run("curate", "run", "--json")  # type: ignore[operator]
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["curated"] == 0


def test_retention_with_a_simulated_clock(run: object) -> None:
    r = run("govern", "retention", "--now", "2026-11-23T00:00:00Z", "--json")  # type: ignore[operator]
    assert r.exit_code == 0 and json.loads(r.stdout)["rows_deleted"] == {}
    assert run("govern", "retention", "--now", "soon").exit_code == 1  # type: ignore[operator]


@pytest.mark.parametrize("command", [["query"], ["audit", "verify"], ["audit", "who"], ["govern", "scan"],
                                     ["govern", "grant"], ["subject", "erase"], ["subject", "export"],
                                     ["curate", "run"], ["govern", "retention"]])
def test_help(command: list[str]) -> None:
    r = CliRunner().invoke(cli, [*command, "--help"])
    assert r.exit_code == 0 and "Usage:" in r.output
