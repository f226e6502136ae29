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
    create_tables(engine, metadata)
    return engine


def create_tables(engine: Engine, metadata: Any) -> None:
    """``metadata.create_all``, safe when several processes (or threads) open a new database at once.

    ``create_all`` checks for each table, then creates it: two openers can both find it missing,
    and the second ``CREATE TABLE`` fails. Checking again then finds what the first one made.
    """
    from sqlalchemy.exc import OperationalError, ProgrammingError

    for attempt in range(3):
        try:
            metadata.create_all(engine)
            return
        except (OperationalError, ProgrammingError):
            if attempt == 2:
                raise


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


def add_columns(engine: Engine, metadata: Any) -> None:
    """Add the nullable columns ``metadata`` defines that the database's tables lack (an older
    version made them); another process adding one at the same moment is no error."""
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import OperationalError, ProgrammingError

    for table in metadata.sorted_tables:
        for col in table.columns:
            if not col.nullable or col.name in {c["name"] for c in inspect(engine).get_columns(table.name)}:
                continue
            try:
                with engine.begin() as c:
                    c.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN "{col.name}" '
                                   f"{col.type.compile(engine.dialect)}"))
            except (OperationalError, ProgrammingError):
                if col.name not in {c["name"] for c in inspect(engine).get_columns(table.name)}:
                    raise


def create_indexes(engine: Engine, metadata: Any) -> None:
    """Every index of ``metadata``'s tables (``create_all`` adds them only with new tables)."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    for table in metadata.sorted_tables:
        for index in table.indexes:
            try:
                index.create(engine, checkfirst=True)
            except (OperationalError, ProgrammingError):  # made by another process meanwhile
                index.create(engine, checkfirst=True)
