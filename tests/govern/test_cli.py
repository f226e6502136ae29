"""The governance CLI as people use it: logged in with roles, every command a signed request to the door.

A real lake, the real door on loopback (``LiveDoor``), and one ``JOBSHADOW_HOME`` per person, as
each would have on their own machine: an administrator, a steward, a reviewer who is neither, a
researcher, an auditor and a DPO.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from jobshadow.cli.main import cli
from jobshadow.govern import Governance
from jobshadow.home import Home
from jobshadow.testing.door import LiveDoor
from jobshadow.testing.lake import BuiltLake
from tests.govern.conftest import TITLE_CANARY

pytestmark = pytest.mark.slow

ROLES = {"admin@example.com": ["admin"], "steward@example.com": ["steward"], "reviewer@example.com": ["reviewer"],
         "ml@example.com": ["researcher"], "auditor@example.com": ["auditor"], "dpo@example.com": ["dpo"]}
Run = Callable[..., Result]


@pytest.fixture(scope="module")
def door(built: BuiltLake) -> Iterator[LiveDoor]:
    live = LiveDoor(built.settings)
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def homes(door: LiveDoor, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Home]:
    root = tmp_path_factory.mktemp("people")
    return {email: door.person(root / email.split("@")[0], email, roles)[0] for email, roles in ROLES.items()}


def runner_for(home: Path) -> Run:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli, list(args), env={"JOBSHADOW_HOME": str(home)})

    return invoke


@pytest.fixture(scope="module")
def as_(homes: dict[str, Home]) -> Callable[[str], Run]:
    return lambda who: runner_for(homes[f"{who}@example.com"].root)


@pytest.fixture(scope="module")
def granted(as_: Callable[[str], Run]) -> None:
    """The ML team may read events and windows for model training: a steward asks, a reviewer approves."""
    steward, reviewer = as_("steward"), as_("reviewer")
    assert steward("govern", "member", "add", "person:ml@example.com", "group:ml-team").exit_code == 0
    for table in ("curated.events", "curated.windows"):
        r = steward("govern", "grant", "group:ml-team", "read", table, "--purpose", "model_training", "--for", "2h",
                    "--json")
        assert r.exit_code == 0, r.output
        request = json.loads(r.stdout)["request"]
        assert request and json.loads(r.stdout)["grant"] is None  # sensitive labels: a request, not a grant
        r = reviewer("govern", "request", "approve", request)
        assert r.exit_code == 0, r.output


def test_query_for_model_training_returns_rows(as_: Callable[[str], Run], granted: None) -> None:
    r = as_("ml")("query", "--purpose", "model_training", "--json",
                  "SELECT kind, count(*) AS n FROM curated.events GROUP BY kind ORDER BY kind")
    assert r.exit_code == 0, r.output
    assert {row["kind"] for row in json.loads(r.stdout)} >= {"key_press", "mouse_move"}


def test_a_forbidden_purpose_is_refused_and_audited_before_any_sql(as_: Callable[[str], Run], granted: None,
                                                                   built: BuiltLake) -> None:
    for sql in ("SELECT count(*) FROM curated.events", "SELECT 1"):
        r = as_("ml")("query", "--purpose", "performance_evaluation", sql)
        assert r.exit_code == 1
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("Error: refused:")
        assert "forbid-prohibited-purposes" in r.stderr
    r = as_("ml")("query", "--purpose", "staff_ranking", "SELECT 1")  # not even registered
    assert r.exit_code == 1 and "unknown purpose" in r.stderr
    with Governance(built.settings) as gov:
        denied = [rec for _, rec in gov.audit_records(principal="person:ml@example.com", decision="deny")]
    assert [d.purpose for d in denied[-3:]] == ["performance_evaluation", "performance_evaluation", "staff_ranking"]
    assert all(d.action == "query" for d in denied[-3:])


def test_refused_sql_is_audited_with_who_sent_it(as_: Callable[[str], Run], granted: None, built: BuiltLake) -> None:
    r = as_("ml")("query", "--purpose", "model_training", "SELECT * FROM read_csv_auto('/etc/passwd')")
    assert r.exit_code == 1
    with Governance(built.settings) as gov:
        last = gov.audit_records(principal="person:ml@example.com", decision="deny")[-1][1]
    assert last.action == "query" and "table function" in last.reason


def test_query_output_as_a_table_and_its_size_capped(as_: Callable[[str], Run], granted: None) -> None:
    r = as_("ml")("query", "--purpose", "model_training", "SELECT title FROM curated.windows ORDER BY title")
    assert r.exit_code == 0 and TITLE_CANARY in r.stdout
    r = as_("ml")("query", "--purpose", "model_training", "--max-rows", "2", "SELECT kind FROM curated.events")
    assert r.exit_code == 1 and "more than 2 rows" in r.stderr


def test_audit_who_answers_who_read_a_table(as_: Callable[[str], Run], granted: None) -> None:
    as_("ml")("query", "--purpose", "model_training", "SELECT count(*) FROM curated.windows")
    as_("ml")("query", "--purpose", "performance_evaluation", "SELECT count(*) FROM curated.windows")
    auditor = as_("auditor")
    r = auditor("audit", "who", "--table", "curated.windows", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert any(x["principal"] == "person:ml@example.com" and x["purpose"] == "model_training"
               and x["decision"] == "allow" for x in rows)
    assert [x["index"] for x in rows] == sorted((x["index"] for x in rows), reverse=True)  # newest first
    denied = json.loads(auditor("audit", "who", "--denied", "--json").stdout)
    assert any(x["purpose"] == "performance_evaluation" for x in denied)
    assert json.loads(auditor("audit", "who", "--since", "2999-01-01", "--json").stdout) == []
    assert auditor("audit", "who", "--since", "yesterday").exit_code == 1
    table = auditor("audit", "who", "--table", "curated.windows", "--limit", "5")
    assert table.exit_code == 0 and "person:ml@example.com" in table.stdout
    assert all(len(line) <= 80 for line in table.stdout.splitlines())


def test_audit_who_by_subject_takes_an_e_mail_or_a_pseudonym(as_: Callable[[str], Run], granted: None,
                                                            built: BuiltLake) -> None:
    with Governance(built.settings) as gov:
        subject = gov.keys.pseudonym(built.people["alice@example.com"])
    as_("ml")("query", "--purpose", "model_training", "SELECT count(*) FROM curated.windows")
    by_subject = json.loads(as_("auditor")("audit", "who", "--subject", subject, "--json").stdout)
    by_email = json.loads(as_("dpo")("audit", "who", "--subject", "alice@example.com", "--json").stdout)
    assert by_subject and by_subject == by_email
    assert by_email[0]["principal"] == "person:ml@example.com"  # the newest read of her data
    assert {x["purpose"] for x in by_email} >= {"model_training", "processing"}  # curation is attributed too


def test_govern_listings(as_: Callable[[str], Run], granted: None) -> None:
    tables = json.loads(as_("ml")("govern", "tables", "--json").stdout)
    events = next(t for t in tables if t["table"] == "curated.events")
    assert "typed_text" in events["labels"] and "char" in events["sealed"]
    purposes = json.loads(as_("ml")("govern", "purposes", "--json").stdout)
    assert "performance_evaluation" in purposes["forbidden"]
    grants = json.loads(as_("auditor")("govern", "grants", "--json").stdout)
    assert {g["table"] for g in grants if g["principal"] == "group:ml-team"} >= {"curated.events", "curated.windows"}
    assert all(g["by"] == "person:reviewer@example.com" for g in grants if g["principal"] == "group:ml-team")
    principals = json.loads(as_("steward")("govern", "principal", "list", "--json").stdout)
    assert any(p["id"] == "group:ml-team" and p["members"] >= 1 for p in principals)


def test_grants_that_could_never_be_right_are_refused_when_made(as_: Callable[[str], Run]) -> None:
    steward = as_("steward")
    r = steward("govern", "grant", "person:ml@example.com", "read", "curated.events", "--purpose",
                "hr_investigation", "--for", "1h")
    assert r.exit_code == 1 and "forbidden" in r.stderr
    r = steward("govern", "grant", "*", "read", "curated.windows", "--purpose", "model_training", "--for", "1h")
    assert r.exit_code == 1 and "everyone" in r.stderr


def test_nobody_approves_their_own_request(door: LiveDoor, tmp_path: Path) -> None:
    home, _ = door.person(tmp_path / "both", "both@example.com", ["steward", "reviewer"])
    both = runner_for(home.root)
    r = both("govern", "grant", "person:both@example.com", "read", "curated.frames", "--purpose", "model_training",
             "--for", "1h", "--json")
    assert r.exit_code == 0, r.output
    request = json.loads(r.stdout)["request"]
    r = both("govern", "request", "approve", request)
    assert r.exit_code == 1 and "own request" in r.stderr
    listed = json.loads(both("govern", "request", "list", "--json").stdout)
    assert any(x["request"] == request and x["state"] == "pending" for x in listed)
    # Joining the pipeline's group is controlled like a grant: a request, and services only.
    r = both("govern", "member", "add", "person:both@example.com", "group:pipeline")
    assert r.exit_code == 1 and "only services" in r.stderr
    r = both("govern", "member", "add", "service:etl", "group:pipeline", )
    assert r.exit_code == 0 and "request" in r.stdout


def test_subject_export_and_erase_by_the_dpo(as_: Callable[[str], Run], built: BuiltLake, tmp_path: Path) -> None:
    dpo = as_("dpo")
    out = tmp_path / "bob"
    r = dpo("subject", "export", "bob@example.com", "--out", str(out))
    assert r.exit_code == 0, r.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tables"] and all(p.stat().st_mode & 0o077 == 0 for p in [out, *out.rglob("*")])
    assert any(x["purpose"] == "processing" for x in manifest["recipients"])  # curation read it: it says so
    assert as_("admin")("subject", "erase", "bob@example.com", "--yes").exit_code == 1  # not the admin's to do
    r = dpo("subject", "erase", "bob@example.com", "--json")
    assert r.exit_code == 1  # asks for confirmation: aborted without --yes
    r = dpo("subject", "erase", "bob@example.com", "--yes", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["key_destroyed"] and report["residual"] == [] and report["unreadable_after_s"] <= 1
    assert report["identity_link_removed"] and not report["legal_hold"]
    # The e-mail address no longer leads anywhere; the pseudonym still names what is left (nothing).
    assert dpo("subject", "export", "bob@example.com", "--out", str(tmp_path / "again")).exit_code == 1
    r = dpo("subject", "export", report["subject"], "--out", str(tmp_path / "again"))
    assert r.exit_code == 0
    manifest = json.loads((tmp_path / "again" / "manifest.json").read_text())
    assert manifest["erased"] is True and manifest["tables"] == {}
    assert dpo("subject", "erase", "nobody-at-all", "--yes").exit_code == 1


def test_curate_run_is_idempotent_and_the_admin_s(as_: Callable[[str], Run]) -> None:
    r = as_("admin")("curate", "run", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["curated"] == 0
    assert as_("ml")("curate", "run").exit_code == 1


def test_retention_simulates_unless_applied(as_: Callable[[str], Run], granted: None) -> None:
    admin = as_("admin")
    before = json.loads(as_("ml")("query", "--purpose", "model_training", "--json",
                                  "SELECT count(*) AS n FROM curated.events").stdout)[0]["n"]
    r = admin("govern", "retention", "--now", "2099-01-01T00:00:00Z", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["applied"] is False and sum(report["rows_deleted"].values()) > 0  # everything would go
    after = json.loads(as_("ml")("query", "--purpose", "model_training", "--json",
                                 "SELECT count(*) AS n FROM curated.events").stdout)[0]["n"]
    assert after == before  # nothing went
    assert admin("govern", "retention", "--now", "soon").exit_code == 1
    assert admin("govern", "retention", "--now", "2099-01-01", "--apply").exit_code == 2
    r = admin("govern", "retention", "--apply", "--json")  # at the real time: nothing has expired
    assert r.exit_code == 0 and json.loads(r.stdout)["applied"] is True
    assert json.loads(r.stdout)["rows_deleted"] == {}
    assert as_("auditor")("govern", "retention", "--apply").exit_code == 1  # auditors only look


def test_audit_verify_is_the_auditor_s(as_: Callable[[str], Run]) -> None:
    ok = as_("auditor")("audit", "verify", "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["ok"] is True
    assert as_("ml")("audit", "verify").exit_code == 1  # researchers do not audit


def _writable(con: sqlite3.Connection) -> None:
    """Whoever can write the file can drop the append-only triggers: they are no defence."""
    for table in ("leaves", "nodes", "heads"):
        for op in ("update", "delete"):
            con.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op}")


@pytest.fixture
def small_log(tmp_path: Path) -> Iterator[tuple[Path, Run]]:
    """A fresh server home whose audit log has records and published heads (tampered freely), its
    door, and an auditor logged in to it."""
    from jobshadow.config import load_settings
    from jobshadow.govern import PolicyDenied

    home = tmp_path / "home"
    settings = load_settings(environ={"JOBSHADOW_HOME": str(home)})
    with Governance(settings) as gov:
        for i in range(12):
            with pytest.raises(PolicyDenied):
                gov.read(f"person:p{i}@example.com", "model_training", "curated.events")
            gov.publish_head()
    live = LiveDoor(settings)
    try:
        auditor, _ = live.person(tmp_path / "auditor", "auditor@example.com", ["auditor"])
        yield home / "server" / "audit.db", runner_for(auditor.root)
    finally:
        live.stop()


def test_audit_verify_passes_then_catches_an_edited_record(small_log: tuple[Path, Run]) -> None:
    db, run = small_log
    ok = run("audit", "verify", "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["ok"] is True
    with sqlite3.connect(db) as con:
        _writable(con)
        idx, leaf = con.execute("SELECT idx, leaf FROM leaves ORDER BY idx LIMIT 1").fetchone()
        con.execute("UPDATE leaves SET leaf=? WHERE idx=?", (bytes(leaf).replace(b"deny", b"allo"), idx))
    bad = run("audit", "verify", "--json")
    assert bad.exit_code == 1
    assert {p["kind"] for p in json.loads(bad.stdout)["problems"]} & {"leaf_hash", "head_root"}


def test_audit_verify_catches_a_truncated_log_against_published_heads(small_log: tuple[Path, Run]) -> None:
    db, run = small_log
    with sqlite3.connect(db) as con:  # cut the tail, and every head the log kept itself
        _writable(con)
        top = con.execute("SELECT max(idx) FROM leaves").fetchone()[0]
        con.execute("DELETE FROM leaves WHERE idx > ?", (top - 3,))
        con.execute("DELETE FROM nodes")
        con.execute("DELETE FROM heads")
    bad = run("audit", "verify", "--json")
    assert bad.exit_code == 1
    assert "head_beyond_tree" in {p["kind"] for p in json.loads(bad.stdout)["problems"]}


@pytest.mark.parametrize("command", [["query"], ["audit", "verify"], ["audit", "who"], ["govern", "scan"],
                                     ["govern", "grant"], ["subject", "erase"], ["subject", "export"],
                                     ["curate", "run"], ["govern", "retention"], ["login"], ["whoami"],
                                     ["admin", "invite"], ["admin", "review", "show"], ["server", "init"]])
def test_help(command: list[str]) -> None:
    r = CliRunner().invoke(cli, [*command, "--help"])
    assert r.exit_code == 0 and "Usage:" in r.output
    assert all(len(line) <= 100 for line in r.output.splitlines())
