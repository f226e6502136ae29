"""SQLAlchemy engines with the settings every jobshadow database shares (server side).

SQLite runs in WAL mode with full fsync, foreign keys and a busy timeout, because several
processes (collector workers, the governance door, host maintenance) write while others read;
any other URL (PostgreSQL) is used as given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine


def sql_engine(url: str, metadata: Any) -> Engine:
    """A SQLAlchemy engine with the tables of ``metadata`` created.

    SQLite runs in WAL mode with full fsync, foreign keys and a busy timeout, because the admin CLI
    writes while the server reads; any other URL (PostgreSQL) is used as given.
    """
    from sqlalchemy import create_engine

    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    engine: Engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        sqlite_pragmas(engine)
    metadata.create_all(engine)
    return engine


def sqlite_pragmas(engine: Engine) -> None:
    """Every new SQLite connection: WAL, durable commits, foreign keys, waiting on a busy lock."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()
