"""The collector's own tables: request nonces, uploads in progress, landed segments (collector).

People, devices, enrolment codes, consent, the kill switch and scopes are the governance door's
control state (``jobshadow.govern.control``), in the same database.

SQLAlchemy Core, so the embedded SQLite file and a PostgreSQL URL behave the same. SQLite runs in
WAL mode with foreign keys on and a busy timeout, because the admin CLI writes while the server
reads. Times are stored as UTC epoch seconds (float) to stay portable.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
)

from jobshadow.dbengine import add_columns, create_indexes, create_tables, sql_engine, sqlite_pragmas

# Connections the collector keeps open: one per AnyIO worker thread (the limiter, see ingest.app)
# plus the group-commit writer, the landing committer, the config watch and the pruner. With
# fewer, request threads queue for a connection and connections above ``pool_size`` are closed
# on return and reopened (with their PRAGMAs) on the next checkout.
POOL_SIZE = 48
POOL_OVERFLOW = 16

metadata = MetaData()

nonces = Table(
    "nonces", metadata,
    Column("device_id", String(32), nullable=False),
    Column("nonce", String(64), nullable=False),
    Column("seen_at", Float, nullable=False),
    UniqueConstraint("device_id", "nonce", name="uq_nonce"),
)
Index("ix_nonces_seen", nonces.c.seen_at)

uploads = Table(
    "uploads", metadata,
    Column("id", String(32), primary_key=True),
    Column("device_id", String(32), nullable=False),  # a device of the control state (jobshadow.govern)
    Column("content_hash", String(64), nullable=False),
    Column("payload_sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("segment_id", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # open|landed|rejected
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("reason", Text, nullable=False, default=""),
)
Index("ix_uploads_device_payload", uploads.c.device_id, uploads.c.payload_sha256)

landed = Table(
    "landed", metadata,
    Column("content_hash", String(64), primary_key=True),  # exactly once per segment content
    Column("upload_id", String(32), nullable=False),
    Column("device_id", String(32), nullable=False),
    Column("person_id", String(32), nullable=False),
    Column("segment_id", String(64)),  # owned by the device that first landed it (null: landed before this)
    Column("blob_name", String(200), nullable=False),
    Column("row", Text, nullable=False),  # the landing-table row as JSON (replayed after a crash)
    Column("batch_id", String(32)),
    Column("committed", Boolean, nullable=False, default=False),
    Column("landed_at", Float, nullable=False),
)
# The committer looks for rows not yet in the landing table: few, among every segment ever landed.
Index("ix_landed_committed", landed.c.committed)
Index("ix_landed_segment", landed.c.segment_id)


def make_engine(url: str, pool_size: int = POOL_SIZE) -> Engine:
    """The control-plane engine, with the tables created.

    SQLite gets the same settings as every other jobshadow database (``govern.storage.sql_engine``:
    WAL, ``synchronous=FULL``, foreign keys, busy timeout) but a pool sized for the collector's
    worker threads; connections are opened lazily, so a short-lived admin command opens one.
    """
    if not url.startswith("sqlite:///") or ":memory:" in url:
        engine = sql_engine(url, metadata)
    else:
        engine = create_engine(url, pool_size=pool_size, max_overflow=POOL_OVERFLOW, pool_timeout=60,
                               connect_args={"timeout": 30, "check_same_thread": False})
        sqlite_pragmas(engine)
        create_tables(engine, metadata)
    # ``create_all`` adds columns and indexes only with new tables; a database from an earlier
    # version gets the (nullable) columns and the indexes added since here.
    add_columns(engine, metadata)
    create_indexes(engine, metadata)
    return engine
