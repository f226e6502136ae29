"""The SQLite audit log store: appends, durability, failures, heads, proofs, queries, threads."""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from jobshadow.govern.audit import (
    AuditCorruptError,
    AuditHeadError,
    AuditKeyError,
    AuditLog,
    AuditProofError,
    AuditRecord,
    AuditRecordError,
    AuditStoreError,
    AuditWriteError,
    ConsistencyProof,
    InclusionProof,
    SignedTreeHead,
    load_public_key,
    merkle,
    public_key_pem,
    sign_head,
    verify_consistency,
    verify_inclusion,
    verify_log,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def rec(i: int = 0, **over: Any) -> AuditRecord:
    fields: dict[str, Any] = {
        "principal": f"user{i % 3}",
        "action": "read",
        "resource": f"lake.table{i % 5}",
        "purpose": "training",
        "decision": "allow" if i % 4 else "deny",
        "policy_ids": ("p-1",),
        "subject": f"subj-{i % 7}",
        "detail": {"rows": i},
        "time": T0 + timedelta(seconds=i),
    }
    fields.update(over)
    return AuditRecord.create(**fields)


def expected_root(records: list[AuditRecord]) -> bytes:
    tree = merkle.CompactRange()
    for r in records:
        tree.append(merkle.leaf_hash(r.canonical()))
    return tree.root()


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def log(tmp_path: Path, key: Ed25519PrivateKey) -> Iterator[AuditLog]:
    with AuditLog(tmp_path / "audit.db", signing_key=key) as lg:
        yield lg


def test_append_and_read_back(log: AuditLog) -> None:
    assert log.size == 0 and log.root() == merkle.EMPTY_ROOT
    records = [rec(i) for i in range(12)]
    assert log.append(records[0]) == 0
    assert log.append(records[1]) == 1
    assert log.append_many(records[2:]) == range(2, 12)
    assert log.append_many([]) == range(12, 12)
    assert log.size == 12
    assert [log.record(i) for i in range(12)] == records
    assert log.leaf(5) == records[5].canonical()
    assert log.root() == expected_root(records)
    assert log.root(7) == expected_root(records[:7])
    with pytest.raises(AuditProofError):
        log.root(13)
    with pytest.raises(AuditProofError):
        log.leaf(12)


def test_connection_settings(log: AuditLog) -> None:
    conn = log._conn
    assert conn is not None
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_every_proof_from_storage_verifies(log: AuditLog) -> None:
    records = [rec(i) for i in range(40)]
    log.append_many(records[:17])
    for r in records[17:]:
        log.append(r)  # mix batch and single appends: the stored tree must not care
    roots = [expected_root(records[:n]) for n in range(41)]
    for n in range(41):
        assert log.root(n) == roots[n]
        for m in range(n):
            p = log.prove_inclusion(m, n)
            merkle.verify_inclusion(merkle.leaf_hash(p.leaf), m, n, p.path, roots[n])
        for m in range(n + 1):
            c = log.prove_consistency(m, n)
            merkle.verify_consistency(m, n, roots[m], roots[n], c.path)
    with pytest.raises(AuditProofError):
        log.prove_inclusion(40, 40)
    with pytest.raises(AuditProofError):
        log.prove_consistency(5, 41)


def test_reopen_after_close(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    path = tmp_path / "audit.db"
    records = [rec(i) for i in range(9)]
    with AuditLog(path, signing_key=key) as lg:
        lg.append_many(records[:5])
        head = lg.publish_head()
    with AuditLog(path, signing_key=key) as lg:
        assert lg.size == 5 and lg.heads() == [head]
        assert lg.append_many(records[5:]) == range(5, 9)
        assert lg.root() == expected_root(records)
    assert verify_log(path, key.public_key()).ok


def test_failed_transaction_leaves_no_partial_leaf(log: AuditLog, key: Ed25519PrivateKey) -> None:
    log.append_many([rec(i) for i in range(4)])
    root = log.root()
    with closing(sqlite3.connect(log.path)) as raw:
        raw.execute("CREATE TRIGGER inject BEFORE INSERT ON nodes BEGIN SELECT RAISE(ABORT, 'injected'); END")
        raw.commit()
    # Leaves are inserted before nodes, so this fails halfway through the transaction.
    with pytest.raises(AuditWriteError, match="rolled back"):
        log.append_many([rec(i) for i in range(4, 8)])
    assert log.size == 4 and log.root() == root
    with closing(sqlite3.connect(log.path)) as raw:
        assert raw.execute("SELECT count(*) FROM leaves").fetchone()[0] == 4
        raw.execute("DROP TRIGGER inject")
        raw.commit()
    assert log.append_many([rec(i) for i in range(4, 8)]) == range(4, 8)
    assert log.root() == expected_root([rec(i) for i in range(8)])
    log.publish_head()
    assert verify_log(log, key.public_key()).ok


_CHILD = """
import sys
from datetime import UTC, datetime
from jobshadow.govern.audit import AuditLog, AuditRecord
log = AuditLog(sys.argv[1])
r = AuditRecord.create(principal="p", action="read", resource="t", purpose="x", decision="allow",
                       time=datetime(2024, 1, 1, tzinfo=UTC))
while True:
    print(log.append_many([r] * 5).stop, flush=True)
"""


def test_killed_writer_loses_nothing_acknowledged(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    path = tmp_path / "audit.db"
    with AuditLog(path):
        pass  # create the schema before the child starts
    with subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        acknowledged = 0
        for line in child.stdout:
            acknowledged = int(line)
            if acknowledged >= 500:
                break
        child.send_signal(signal.SIGKILL)
        child.wait()
    with AuditLog(path, signing_key=key) as lg:
        assert lg.size >= acknowledged and lg.size % 5 == 0  # batches are all-or-nothing
        lg.publish_head()
    report = verify_log(path, key.public_key())
    assert report.ok, report.summary()


def test_write_errors(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    r = rec()
    with pytest.raises(AuditWriteError, match="cannot open"):
        AuditLog(tmp_path / "missing-dir" / "audit.db")
    with pytest.raises(AuditStoreError) as info:
        AuditLog(tmp_path / "missing.db", readonly=True)
    assert not isinstance(info.value, AuditWriteError)

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(AuditWriteError):
        AuditLog(garbage)
    foreign = tmp_path / "foreign.db"
    with closing(sqlite3.connect(foreign)) as raw:
        raw.execute("CREATE TABLE t (x)")
        raw.commit()
    with pytest.raises(AuditWriteError, match="something else"):
        AuditLog(foreign)

    path = tmp_path / "audit.db"
    with AuditLog(path, signing_key=key) as lg:
        lg.append(r)
    with AuditLog(path, readonly=True, signing_key=key) as ro:
        assert ro.size == 1 and ro.record(0) == r
        with pytest.raises(AuditWriteError, match="read-only"):
            ro.append(r)
        with pytest.raises(AuditWriteError, match="read-only"):
            ro.publish_head()
    lg = AuditLog(path)
    with pytest.raises(AuditWriteError, match="AuditRecord"):
        lg.append("not a record")  # type: ignore[arg-type]
    with pytest.raises(AuditKeyError):
        lg.publish_head()
    lg.close()
    lg.close()
    with pytest.raises(AuditWriteError, match="closed"):
        lg.append(r)
    with pytest.raises(AuditStoreError, match="closed"):
        _ = lg.size

    with closing(sqlite3.connect(path)) as raw:
        raw.execute("UPDATE meta SET value = 'jobshadow-audit/99' WHERE key = 'schema'")
        raw.commit()
    with pytest.raises(AuditWriteError, match="unknown audit log schema"):
        AuditLog(path)


def test_log_removed_or_replaced_fails_closed(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    with AuditLog(d / "audit.db") as lg:
        lg.append(rec())
        shutil.rmtree(d)
        with pytest.raises(AuditWriteError, match="gone"):
            lg.append(rec(1))
    d.mkdir()
    with AuditLog(d / "audit.db") as lg:
        lg.append(rec())
        other = d / "other"
        other.write_bytes(b"")
        os.replace(other, d / "audit.db")
        with pytest.raises(AuditWriteError, match="replaced"):
            lg.append(rec(1))


def test_second_writer_waits_then_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    with AuditLog(path, timeout=0.05) as lg, closing(sqlite3.connect(path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        t = time.monotonic()
        with pytest.raises(AuditWriteError, match="locked"):
            lg.append(rec())
        assert time.monotonic() - t < 2
        other.execute("ROLLBACK")
        assert lg.append(rec()) == 0


def test_two_writers_interleaved_keep_one_tree(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    path = tmp_path / "audit.db"
    records = [rec(i) for i in range(30)]
    with AuditLog(path, signing_key=key) as a, AuditLog(path) as b:
        for i, r in enumerate(records):
            (a if i % 3 else b).append(r)  # each sees the other's leaves (cached frontier is stale)
        assert a.root() == b.root() == expected_root(records)
        a.publish_head()
    assert verify_log(path, key.public_key()).ok


def test_heads(log: AuditLog, key: Ed25519PrivateKey) -> None:
    assert log.latest_head() is None and log.heads() == []
    empty = log.publish_head()
    assert empty.tree_size == 0 and empty.root_hash == merkle.EMPTY_ROOT
    log.append_many([rec(i) for i in range(3)])
    unsigned = log.sign_head()
    assert unsigned.tree_size == 3 and log.heads() == [empty]
    h3 = log.publish_head()
    h3.verify(key.public_key())
    assert h3.root_hash == log.root(3) and log.latest_head() == h3
    assert log.heads() == [empty, h3]
    assert h3.timestamp >= empty.timestamp

    # import: a head signed elsewhere with the same key (say, restored from a witness)
    log.append(rec(3))
    restored = sign_head(key, 4, log.root(4))
    log.import_head(restored)
    assert log.latest_head() == restored
    with pytest.raises(AuditHeadError, match="does not match"):
        log.import_head(sign_head(key, 4, merkle.EMPTY_ROOT))
    with pytest.raises(AuditHeadError, match="beyond"):
        log.import_head(sign_head(key, 9, merkle.EMPTY_ROOT))
    with pytest.raises(AuditHeadError, match="in order"):
        log.import_head(sign_head(key, 3, log.root(3)))
    with pytest.raises(AuditHeadError, match="names key"):
        log.import_head(sign_head(Ed25519PrivateKey.generate(), 4, log.root(4)))
    assert verify_log(log, key.public_key()).ok


def test_third_party_checks_with_only_public_key_and_json(log: AuditLog, key: Ed25519PrivateKey) -> None:
    log.append_many([rec(i) for i in range(10)])
    old_json = log.publish_head().to_json()
    log.append_many([rec(i) for i in range(10, 23)])
    new_json = log.publish_head().to_json()

    # --- the third party: a public key PEM, two head JSONs, and proofs as JSON ---
    pub = load_public_key(public_key_pem(key))
    old, new = SignedTreeHead.from_json(old_json), SignedTreeHead.from_json(new_json)
    inc = InclusionProof.from_json(log.prove_inclusion(7, old).to_json())
    assert verify_inclusion(inc, old, pub) == rec(7)
    inc_new = InclusionProof.from_json(log.prove_inclusion(7, new).to_json())
    assert verify_inclusion(inc_new, new, pub) == rec(7)
    con = ConsistencyProof.from_json(log.prove_consistency(old, new).to_json())
    verify_consistency(con, old, new, pub)
    assert log.verify_inclusion(7, old) == rec(7)

    with pytest.raises(AuditProofError):
        verify_inclusion(inc, new, pub)  # proof for another tree size
    forged_leaf = InclusionProof(inc.index, inc.tree_size, rec(99).canonical(), inc.path)
    with pytest.raises(AuditProofError):
        verify_inclusion(forged_leaf, old, pub)
    with pytest.raises(AuditProofError):
        verify_consistency(ConsistencyProof(10, 23, con.path[:-1]), old, new, pub)
    with pytest.raises(AuditProofError):
        verify_consistency(con, new, new, pub)
    with pytest.raises(AuditHeadError):
        verify_consistency(con, old, new, Ed25519PrivateKey.generate().public_key())
    with AuditLog(log.path, readonly=True) as ro, pytest.raises(AuditKeyError):
        ro.verify_inclusion(7, old)


def test_queries(log: AuditLog) -> None:
    records = [
        rec(0, resource="lake.sessions", subject="s1", principal="alice", decision="allow"),
        rec(1, resource="lake.sessions.frames", subject="s2", principal="bob", decision="deny"),
        rec(2, resource="lake.sessionsX", subject=None, principal="alice", decision="allow"),
        rec(3, resource="lake.other", subject="s1", principal="carol", decision="deny"),
        rec(4, resource="lake.é", subject="s1", principal="alice", decision="allow"),
        rec(5, resource="lake.\U0010ffff", subject="s3", principal="bob", decision="allow"),
        rec(6, resource="lake.\ud7ff.x", subject="s3", principal="bob", decision="allow"),
        rec(7, resource="lake.\ue000", subject="s3", principal="bob", decision="allow"),
        rec(8, resource="lakf", subject="s3", principal="bob", decision="allow"),
    ]
    log.append_many(records)

    def ids(**kw: Any) -> list[int]:
        out = log.query(**kw)
        assert all(r == records[i] for i, r in out)
        return [i for i, _ in out]

    assert ids() == list(range(9))
    assert ids(resource_prefix="lake.sessions") == [0, 1, 2]
    assert ids(resource_prefix="lake.sessions.") == [1]
    assert ids(resource_prefix="lake.") == [0, 1, 2, 3, 4, 5, 6, 7]
    assert ids(resource_prefix="lake.\U0010ffff") == [5]
    assert ids(resource_prefix="lake.\ud7ff") == [6]
    assert ids(resource_prefix="lak") == list(range(9))
    assert ids(subject="s1") == [0, 3, 4]
    assert ids(subject="s1", decision="deny") == [3]
    assert ids(principal="alice") == [0, 2, 4]
    assert ids(principal="alice", resource_prefix="lake.sessions") == [0, 2]
    assert ids(since=T0 + timedelta(seconds=6)) == [6, 7, 8]
    assert ids(since="2024-05-01T12:00:07.000000Z") == [7, 8]
    assert ids(decision="deny") == [1, 3]
    assert ids(limit=2) == [0, 1]
    assert ids(limit=2, newest_first=True) == [8, 7]
    assert ids(subject="nobody") == []
    bad_filters: list[dict[str, Any]] = [{"decision": "maybe"}, {"limit": -1}, {"since": "yesterday"}]
    for bad in bad_filters:
        with pytest.raises(AuditRecordError):
            log.query(**bad)


def test_query_uses_indices(log: AuditLog) -> None:
    conn = log._conn
    assert conn is not None
    for where in ["resource >= 'a' AND resource < 'b'", "subject = 's'", "time >= 't'", "principal = 'p'"]:
        plan = " ".join(str(r[-1]) for r in conn.execute(f"EXPLAIN QUERY PLAN SELECT idx FROM leaves WHERE {where}"))
        assert "INDEX leaves_" in plan, (where, plan)


def test_corrupt_storage_is_reported_not_guessed(log: AuditLog) -> None:
    log.append_many([rec(i) for i in range(8)])
    with closing(sqlite3.connect(log.path)) as raw:
        raw.execute("DROP TRIGGER nodes_no_delete")
        raw.execute("DELETE FROM nodes WHERE level >= 2")
        raw.execute("DROP TRIGGER leaves_no_update")
        raw.execute("UPDATE leaves SET leaf = x'00' WHERE idx = 1")
        raw.commit()
    with pytest.raises(AuditCorruptError, match="level 2"):
        log.prove_inclusion(0, 8)
    with pytest.raises(AuditCorruptError, match="leaf 1"):
        log.record(1)
    with pytest.raises(AuditCorruptError, match="leaf 1"):
        log.query()
    # A fresh writer rebuilds its frontier from the stored nodes and refuses to guess.
    with pytest.raises(AuditWriteError, match="level 3"), AuditLog(log.path) as other:
        other.append(rec(8))


def test_thread_safety(log: AuditLog, key: Ed25519PrivateKey) -> None:
    n_threads, per_thread = 8, 60
    got: dict[int, AuditRecord] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(n_threads + 1)
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(t: int) -> None:
        try:
            barrier.wait()
            for j in range(per_thread):
                if j % 10 == 0:
                    batch = [rec(j, principal=f"t{t}", detail={"j": j + k}) for k in range(3)]
                    idxs = list(log.append_many(batch))
                else:
                    batch = [rec(j, principal=f"t{t}", detail={"j": j})]
                    idxs = [log.append(batch[0])]
                with lock:
                    got.update(zip(idxs, batch, strict=True))
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        try:
            barrier.wait()
            while not stop.is_set():
                n = log.size
                if n:
                    p = log.prove_inclusion(n - 1, n)
                    merkle.verify_inclusion(merkle.leaf_hash(p.leaf), n - 1, n, p.path, log.root(n))
                log.query(principal="t1", limit=5)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(n_threads)]
    watcher = threading.Thread(target=reader)
    for t in [*threads, watcher]:
        t.start()
    for t in threads:
        t.join(timeout=60)
    stop.set()
    watcher.join(timeout=60)
    assert not errors, errors
    total = n_threads * (per_thread + 2 * (per_thread // 10))
    assert sorted(got) == list(range(total)) and log.size == total
    assert all(log.record(i) == r for i, r in got.items())
    log.publish_head()
    assert verify_log(log, key.public_key()).ok


def test_performance_sanity(log: AuditLog, key: Ed25519PrivateKey) -> None:
    records = [rec(i) for i in range(1000)]
    t = time.monotonic()
    for _ in range(20):
        log.append_many(records)
    for r in records[:100]:
        log.append(r)
    append_s = time.monotonic() - t
    old = log.publish_head()
    log.append_many(records[:37])
    new = log.publish_head()
    t = time.monotonic()
    rng = random.Random(7)
    pub = key.public_key()
    for _ in range(200):
        i = rng.randrange(new.tree_size)
        verify_inclusion(log.prove_inclusion(i, new), new, pub)
    verify_consistency(log.prove_consistency(old, new), old, new, pub)
    proof_s = time.monotonic() - t
    assert append_s < 15, append_s
    assert proof_s < 5, proof_s
