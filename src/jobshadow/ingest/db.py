"""The control-plane database: people, devices, enrolment codes, scopes, reviews, uploads (server).

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
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
)

from jobshadow.govern.storage import sql_engine, sqlite_pragmas

# Connections the collector keeps open: one per AnyIO worker thread (the limiter, see ingest.app)
# plus the group-commit writer, the landing committer, the config watch and the pruner. With
# fewer, request threads queue for a connection and connections above ``pool_size`` are closed
# on return and reopened (with their PRAGMAs) on the next checkout.
POOL_SIZE = 48
POOL_OVERFLOW = 16

metadata = MetaData()

people = Table(
    "people", metadata,
    Column("id", String(32), primary_key=True),  # pseudonymous, random
    Column("email", String(320), nullable=False, unique=True),
    Column("consent_state", String(16), nullable=False, default="unknown"),  # unknown|given|withdrawn
    Column("consent_changed_at", Float),
    Column("consent_source", String(16)),  # device|server
    Column("created_at", Float, nullable=False),
)

enroll_codes = Table(
    "enroll_codes", metadata,
    Column("code_hash", String(64), primary_key=True),  # only the hash is stored
    Column("person_id", String(32), ForeignKey("people.id"), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float),
    Column("device_id", String(32)),
)

devices = Table(
    "devices", metadata,
    Column("id", String(32), primary_key=True),
    Column("person_id", String(32), ForeignKey("people.id"), nullable=False),
    Column("public_key", LargeBinary(32), nullable=False, unique=True),
    Column("name", String(200), nullable=False, default=""),
    Column("enrolled_at", Float, nullable=False),
    Column("revoked_at", Float),
    Column("last_seen", Float),
)

nonces = Table(
    "nonces", metadata,
    Column("device_id", String(32), nullable=False),
    Column("nonce", String(64), nullable=False),
    Column("seen_at", Float, nullable=False),
    UniqueConstraint("device_id", "nonce", name="uq_nonce"),
)
Index("ix_nonces_seen", nonces.c.seen_at)

scopes = Table(
    "scopes", metadata,
    Column("name", String(100), primary_key=True),
    Column("definition", Text, nullable=False),  # JSON: apps, deny_apps, titles, sites, streams, purposes, retention
    Column("state", String(16), nullable=False, default="draft"),  # draft|active|inactive
    Column("created_at", Float, nullable=False),
    Column("activated_at", Float),
    Column("version", Integer, nullable=False, default=1),
)

reviews = Table(
    "reviews", metadata,
    Column("id", String(32), primary_key=True),
    Column("scope_name", String(100), ForeignKey("scopes.name"), nullable=False),
    Column("scope_version", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # submitted|approved|rejected
    Column("submitted_by", String(320), nullable=False),
    Column("submitted_at", Float, nullable=False),
    Column("reviewer", String(320)),
    Column("decided_at", Float),
    Column("expires_at", Float),
    Column("notes", Text, nullable=False, default=""),
)

programme = Table(
    "programme", metadata,
    Column("id", Integer, primary_key=True),  # single row, id = 1
    Column("state", String(16), nullable=False),  # running|paused
    Column("reason", Text, nullable=False, default=""),
    Column("changed_at", Float, nullable=False),
    Column("changed_by", String(320), nullable=False, default=""),
)

# Bumped by every change a device must see (scope, programme, consent, revocation); polls wait on it.
config_version = Table(
    "config_version", metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
)

uploads = Table(
    "uploads", metadata,
    Column("id", String(32), primary_key=True),
    Column("device_id", String(32), ForeignKey("devices.id"), nullable=False),
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
    Column("blob_name", String(200), nullable=False),
    Column("row", Text, nullable=False),  # the landing-table row as JSON (replayed after a crash)
    Column("batch_id", String(32)),
    Column("committed", Boolean, nullable=False, default=False),
    Column("landed_at", Float, nullable=False),
)
# The committer looks for rows not yet in the landing table: few, among every segment ever landed.
Index("ix_landed_committed", landed.c.committed)


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
        metadata.create_all(engine)
    # ``create_all`` adds indexes only with new tables; a database from an earlier version gets
    # the ones added since here.
    for table in metadata.sorted_tables:
        for index in table.indexes:
            index.create(engine, checkfirst=True)
    return engine
