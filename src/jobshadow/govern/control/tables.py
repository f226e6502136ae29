"""The control state's tables (curated zone; SQLAlchemy Core, same database as the governance state).

The tables that existed before the door owned them keep their names and columns, so a control
database from an earlier version is used as it is; columns added since are added on open
(``ensure_schema``). Times are UTC epoch seconds (float).
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Engine,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from jobshadow.dbengine import add_columns, create_tables

metadata = MetaData()

people = Table(
    "people", metadata,
    Column("id", String(32), primary_key=True),  # pseudonymous, random
    Column("email", String(320), nullable=False, unique=True),  # "erased:<id>" once the link is removed
    Column("consent_state", String(16), nullable=False, default="unknown"),  # unknown|given|withdrawn
    Column("consent_changed_at", Float),
    Column("consent_source", String(16)),  # device|server|erasure
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

scopes = Table(
    "scopes", metadata,
    Column("name", String(100), primary_key=True),
    Column("definition", Text, nullable=False),  # JSON of the current version (see scope_versions)
    Column("state", String(16), nullable=False, default="draft"),  # draft|active|inactive
    Column("created_at", Float, nullable=False),
    Column("activated_at", Float),
    Column("version", Integer, nullable=False, default=1),
)

# Every version of every scope, as defined: a segment is judged by the version it was captured under.
scope_versions = Table(
    "scope_versions", metadata,
    Column("name", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("definition", Text, nullable=False),
    Column("author", String(320), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("activated_at", Float),  # first activation of this exact version
    PrimaryKeyConstraint("name", "version", name="pk_scope_versions"),
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
    Column("cause", String(16)),  # admin|exposure: who may resume (an exposure finding needs a reviewer)
)

# Bumped by every change a device must see (scope, programme, consent, revocation); polls wait on it.
config_version = Table(
    "config_version", metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
)


def ensure_schema(engine: Engine) -> None:
    """Create missing tables, and add columns this version defines that an older database lacks.

    Only nullable columns are ever added, so rows written by an older version stay valid.
    """
    create_tables(engine, metadata)
    add_columns(engine, metadata)
