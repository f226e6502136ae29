"""verify_log: every kind of tampering with the SQLite file is found and located."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from jobshadow.govern.audit import (
    AuditLog,
    AuditRecord,
    AuditStoreError,
    SignedTreeHead,
    VerifyReport,
    merkle,
    sign_head,
    verify_log,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
N = 37
HEAD_SIZES = (10, 20, 37)


def rec(i: int, **over: Any) -> AuditRecord:
    fields: dict[str, Any] = {
        "principal": f"user{i % 3}",
        "action": "read",
        "resource": f"lake.table{i % 5}",
        "purpose": "training",
        "decision": "allow",
        "subject": f"subj-{i}",
        "detail": {"rows": i},
        "time": T0 + timedelta(seconds=i),
    }
    fields.update(over)
    return AuditRecord.create(**fields)


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def path(tmp_path: Path, key: Ed25519PrivateKey) -> Path:
    p = tmp_path / "audit.db"
    with AuditLog(p, signing_key=key) as log:
        start = 0
        for size in HEAD_SIZES:
            log.append_many([rec(i) for i in range(start, size)])
            log.publish_head()
            start = size
    return p


def tamper(path: Path, *statements: str | tuple[str, tuple[object, ...]]) -> None:
    """Edit the file the way someone with write access to it could: triggers are no obstacle."""
    with closing(sqlite3.connect(path)) as raw:
        for table in ("leaves", "nodes", "heads"):
            for op in ("update", "delete"):
                raw.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op}")
        for st in statements:
            sql, params = (st, ()) if isinstance(st, str) else st
            raw.execute(sql, params)
        raw.commit()


def row(path: Path, idx: int) -> tuple[object, ...]:
    with closing(sqlite3.connect(path)) as raw:
        found = raw.execute("SELECT * FROM leaves WHERE idx = ?", (idx,)).fetchone()
    assert found is not None
    return tuple(found)


def leaf_row(idx: int, r: AuditRecord) -> tuple[object, ...]:
    leaf = r.canonical()
    return (
        idx,
        leaf,
        merkle.leaf_hash(leaf),
        r.time,
        r.principal,
        r.action,
        r.resource,
        r.purpose,
        r.decision,
        r.subject,
    )


def write_row(idx: int, values: tuple[object, ...]) -> tuple[str, tuple[object, ...]]:
    cols = "leaf, leaf_hash, time, principal, action, resource, purpose, decision, subject"
    return (f"UPDATE leaves SET ({cols}) = (?, ?, ?, ?, ?, ?, ?, ?, ?) WHERE idx = ?", (*values[1:], idx))


def problems(report: VerifyReport, kind: str) -> list[tuple[int | None, int | None, str]]:
    return [(p.index, p.head, p.message) for p in report.problems if p.kind == kind]


def check(path: Path, key: Ed25519PrivateKey, **kw: Any) -> VerifyReport:
    report = verify_log(path, key.public_key(), **kw)
    assert report.ok == (not report.problems)
    return report


def test_clean_log_verifies(path: Path, key: Ed25519PrivateKey) -> None:
    report = check(path, key)
    assert report.ok, report.summary()
    assert (report.tree_size, report.heads_checked, report.latest_head_size, report.unsigned_leaves) == (
        N,
        3,
        N,
        0,
    )
    with AuditLog(path, signing_key=key) as log:
        assert report.root_hash == log.root()
        log.append_many([rec(i) for i in range(N, N + 5)])
        report = verify_log(log, key.public_key())
    assert report.ok and report.unsigned_leaves == 5
    assert report.summary().endswith("OK")


def test_edited_leaf_bytes(path: Path, key: Ed25519PrivateKey) -> None:
    forged = rec(13, principal="mallory").canonical()
    tamper(path, ("UPDATE leaves SET leaf = ? WHERE idx = 13", (forged,)))
    report = check(path, key)
    assert [i for i, _, _ in problems(report, "leaf_hash")] == [13]
    assert [i for i, _, _ in problems(report, "leaf_columns")] == [13]
    roots = problems(report, "head_root")
    assert [(i, h) for i, h, _ in roots] == [(10, 1), (10, 2)]  # heads #1 and #2; [0, 10) proven intact
    assert "[10, 20)" in roots[0][2]
    assert "FAILED" in report.summary() and "leaf 13" in report.summary()


def test_edited_leaf_with_matching_hash_and_columns(path: Path, key: Ed25519PrivateKey) -> None:
    tamper(path, write_row(13, leaf_row(13, rec(13, principal="mallory"))))
    report = check(path, key)
    assert report.kinds() == {"node_mismatch", "head_root", "head_consistency"}
    assert problems(report, "node_mismatch")[0][0] == 12  # subtree (level 1, index 6) = leaves 12..13
    assert [h for _, h, _ in problems(report, "head_root")] == [1, 2]


def test_fully_rebuilt_log_is_caught_by_heads(path: Path, tmp_path: Path, key: Ed25519PrivateKey) -> None:
    # The attacker rebuilds a perfectly self-consistent log with one record changed, and keeps
    # the signed heads. Only the signatures can catch this, and they do.
    fake = tmp_path / "rebuilt.db"
    records = [rec(i, principal="mallory") if i == 25 else rec(i) for i in range(N)]
    with AuditLog(fake) as log:
        log.append_many(records)
    with closing(sqlite3.connect(fake)) as raw:
        raw.execute("ATTACH DATABASE ? AS orig", (str(path),))
        raw.execute("INSERT INTO heads SELECT * FROM orig.heads")
        raw.commit()
        raw.execute("DETACH DATABASE orig")
    report = check(fake, key)
    assert report.kinds() == {"head_root"}
    [(index, head, message)] = problems(report, "head_root")
    assert (index, head) == (20, 2) and "[20, 37)" in message


def test_deleted_row(path: Path, key: Ed25519PrivateKey) -> None:
    tamper(path, "DELETE FROM leaves WHERE idx = 15")
    report = check(path, key)
    [(index, _, message)] = problems(report, "leaf_missing")
    assert index == 15 and "[15, 16)" in message
    assert [h for _, h, _ in problems(report, "head_root")] == [1]
    assert [h for _, h, _ in problems(report, "head_beyond_tree")] == [2]
    assert report.tree_size == N - 1


def test_reordered_rows(path: Path, key: Ed25519PrivateKey) -> None:
    r3, r4 = row(path, 3), row(path, 4)
    tamper(path, write_row(3, r4), write_row(4, r3))
    report = check(path, key)
    assert "leaf_hash" not in report.kinds() and "leaf_missing" not in report.kinds()
    assert [i for i, _, _ in problems(report, "node_mismatch")][:2] == [2, 4]
    assert [(i, h) for i, h, _ in problems(report, "head_root")] == [(0, 0), (0, 1), (0, 2)]


@pytest.mark.parametrize("with_nodes", [False, True])
def test_truncated_tail(path: Path, key: Ed25519PrivateKey, with_nodes: bool) -> None:
    statements: list[str | tuple[str, tuple[object, ...]]] = ["DELETE FROM leaves WHERE idx >= 34"]
    if with_nodes:  # a careful attacker also removes the subtree hashes that mention those leaves
        statements.append("DELETE FROM nodes WHERE ((idx + 1) << level) > 34")
    tamper(path, *statements)
    report = check(path, key)
    [(index, head, message)] = problems(report, "head_beyond_tree")
    assert (index, head) == (34, 2) and "[34, 37)" in message
    assert report.tree_size == 34
    assert bool(problems(report, "node_extra")) != with_nodes
    assert "head_root" not in report.kinds()


def test_inserted_row_in_the_middle(path: Path, key: Ed25519PrivateKey) -> None:
    statements: list[str | tuple[str, tuple[object, ...]]] = [
        f"UPDATE leaves SET idx = idx + 1 WHERE idx = {i}" for i in range(N - 1, 4, -1)
    ]
    insert = "INSERT INTO leaves VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    statements.append((insert, leaf_row(5, rec(99, principal="mallory"))))
    tamper(path, *statements)
    report = check(path, key)
    assert report.tree_size == N + 1
    assert [(i, h) for i, h, _ in problems(report, "head_root")] == [(0, 0), (0, 1), (0, 2)]
    assert problems(report, "node_mismatch")[0][0] == 4
    assert "leaf_hash" not in report.kinds()


def test_appended_rows_after_latest_head(path: Path, key: Ed25519PrivateKey) -> None:
    extra = leaf_row(37, rec(99, principal="mallory"))
    # The indexed columns are left inconsistent too: a naive insert.
    tamper(
        path,
        (
            "INSERT INTO leaves VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*extra[:4], "x", "x", "x", "x", "deny", None),
        ),
    )
    report = check(path, key)
    # Leaf 37 completes subtree (level 1, index 18); its hash was never written.
    assert report.kinds() == {"node_missing", "leaf_columns"}
    assert problems(report, "node_missing")[0][0] == 36
    assert report.unsigned_leaves == 1


def test_unsigned_tail_is_only_counted(path: Path, key: Ed25519PrivateKey) -> None:
    # Known limit: rows written with full knowledge of the format after the latest signed head
    # are indistinguishable from real appends. They are reported as unsigned, not as tampering.
    with AuditLog(path) as log:
        log.append(rec(99, principal="mallory"))
    report = check(path, key)
    assert report.ok and report.unsigned_leaves == 1


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("root_hash", bytes(32), "invalid signature"),
        ("signature", bytes(64), "invalid signature"),
        ("tree_size", 9, "invalid signature"),
        ("timestamp", "2020-01-01T00:00:00.000000Z", "invalid signature"),
        ("key_id", "0" * 32, "names key"),
    ],
)
def test_altered_head(path: Path, key: Ed25519PrivateKey, column: str, value: object, match: str) -> None:
    tamper(path, (f"UPDATE heads SET {column} = ? WHERE seq = 2", (value,)))
    report = check(path, key)
    [(_, head, message)] = problems(report, "head_signature")
    assert head == 1 and match in message
    assert report.heads_checked == 2


def test_malformed_and_foreign_heads(path: Path, key: Ed25519PrivateKey) -> None:
    forged = sign_head(Ed25519PrivateKey.generate(), N, bytes(32))
    tamper(
        path,
        "UPDATE heads SET root_hash = x'0102' WHERE seq = 1",
        (
            "INSERT INTO heads (tree_size, root_hash, timestamp, key_id, signature) VALUES (?, ?, ?, ?, ?)",
            (forged.tree_size, forged.root_hash, forged.timestamp, forged.key_id, forged.signature),
        ),
    )
    report = check(path, key)
    assert [h for _, h, _ in problems(report, "head_invalid")] == [0]
    assert [h for _, h, _ in problems(report, "head_signature")] == [3]


def _insert_head(head: SignedTreeHead) -> tuple[str, tuple[object, ...]]:
    return (
        "INSERT INTO heads (tree_size, root_hash, timestamp, key_id, signature) VALUES (?, ?, ?, ?, ?)",
        (head.tree_size, head.root_hash, head.timestamp, head.key_id, head.signature),
    )


def test_fork_and_order_with_a_leaked_key(path: Path, key: Ed25519PrivateKey) -> None:
    later = datetime.now(UTC) + timedelta(days=1)
    with AuditLog(path) as log:
        good20 = log.root(20)
    tamper(
        path,
        _insert_head(sign_head(key, 20, merkle.EMPTY_ROOT, later)),  # fork at size 20
        _insert_head(sign_head(key, 20, good20, later - timedelta(hours=1))),  # shrinks and goes back in time
    )
    report = check(path, key)
    assert [h for _, h, _ in problems(report, "head_fork")] == [3]
    orders = problems(report, "head_order")
    assert [h for _, h, _ in orders] == [3, 4]
    assert "smaller" in orders[0][2] and "dated before" in orders[1][2]


def test_altered_subtree_hash(path: Path, key: Ed25519PrivateKey) -> None:
    tamper(path, "UPDATE nodes SET hash = zeroblob(32) WHERE level = 3 AND idx = 0")
    report = check(path, key)
    assert [i for i, _, m in problems(report, "node_mismatch")] == [0]
    assert "level 3, index 0" in problems(report, "node_mismatch")[0][2]
    # Third parties would be handed broken proofs: say so per head.
    assert problems(report, "head_consistency")
    assert "head_root" not in report.kinds()


def test_query_columns_rewritten(path: Path, key: Ed25519PrivateKey) -> None:
    tamper(path, "UPDATE leaves SET resource = 'lake.elsewhere' WHERE idx = 7")
    report = check(path, key)
    assert report.kinds() == {"leaf_columns"}
    assert problems(report, "leaf_columns")[0][0] == 7
    assert report.kinds() == verify_log(path, key.public_key(), check_columns=False).kinds() | {"leaf_columns"}


def test_invalid_leaf_bytes(path: Path, key: Ed25519PrivateKey) -> None:
    tamper(path, ("UPDATE leaves SET leaf = ?, leaf_hash = ? WHERE idx = 2", (b"{}", merkle.leaf_hash(b"{}"))))
    report = check(path, key)
    assert [i for i, _, _ in problems(report, "leaf_invalid")] == [2]


def test_findings_are_capped_per_kind(path: Path, key: Ed25519PrivateKey) -> None:
    tamper(path, "UPDATE leaves SET leaf_hash = zeroblob(32)")
    report = check(path, key, max_per_kind=5)
    assert len(problems(report, "leaf_hash")) == 5
    assert any("32 more leaf_hash" in m for _, _, m in problems(report, "more"))


def test_unreadable_or_foreign_file(tmp_path: Path, path: Path, key: Ed25519PrivateKey) -> None:
    with pytest.raises(AuditStoreError):
        verify_log(tmp_path / "missing.db", key.public_key())
    tamper(path, "UPDATE meta SET value = 'other' WHERE key = 'hash'")
    assert check(path, key).kinds() == {"schema"}
    # A different key: every head fails.
    report = verify_log(path.with_name("audit.db"), Ed25519PrivateKey.generate().public_key())
    assert not report.ok
