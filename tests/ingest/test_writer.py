"""Group commit: every write of the request path in one transaction per round, and one writer at a
time across processes sharing a SQLite file (two writers here stand for two collector processes)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, func, insert, select

from jobshadow.dbengine import sqlite_pragmas
from jobshadow.ingest.writer import GroupCommit, WriterClosed, insert_new

meta = MetaData()
items = Table("items", meta, Column("id", Integer, primary_key=True), Column("who", String(8)))


def engine(path: Path):  # type: ignore[no-untyped-def]
    e = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30, "check_same_thread": False})
    sqlite_pragmas(e)
    meta.create_all(e)
    return e


def test_two_writers_on_one_file_commit_everything_and_refuse_duplicates(tmp_path: Path) -> None:
    db, lock = tmp_path / "cp.db", tmp_path / "cp.lock"
    writers = [GroupCommit(engine(db), lock_path=lock), GroupCommit(engine(db), lock_path=lock)]
    inserted: list[bool] = []
    guard = threading.Lock()

    def work(w: GroupCommit, start: int) -> None:
        for i in range(start, start + 300):
            ok = w.call(lambda c, i=i: insert_new(c, items, {"id": i % 450, "who": "x"}, ("id",)))
            with guard:
                inserted.append(ok)

    threads = [threading.Thread(target=work, args=(w, k * 150)) for k, w in enumerate(writers * 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # 1,200 attempts on 450 distinct keys: each key inserted exactly once, the rest refused.
    assert len(inserted) == 1200 and sum(inserted) == 450
    with writers[0].engine.connect() as c:
        assert c.execute(select(func.count()).select_from(items)).scalar_one() == 450
    for w in writers:
        w.stop()


def test_a_failing_operation_fails_alone_and_releases_the_lock(tmp_path: Path) -> None:
    db, lock = tmp_path / "cp.db", tmp_path / "cp.lock"
    a, b = GroupCommit(engine(db), lock_path=lock), GroupCommit(engine(db), lock_path=lock)
    a.call(lambda c: c.execute(insert(items).values(id=1, who="a")))
    with pytest.raises(Exception, match="UNIQUE"):
        a.call(lambda c: c.execute(insert(items).values(id=1, who="a")))
    b.call(lambda c: c.execute(insert(items).values(id=2, who="b")))  # not blocked by a's failure
    a.stop()
    with pytest.raises(WriterClosed):
        a.submit(lambda c: None)
    b.stop()
