"""Types the governance door hands out: findings, refusals, row rules, governed reads (curated zone)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
from pyiceberg.expressions import BooleanExpression

from jobshadow.errors import NotAuthenticated as NotAuthenticated  # defined in the one tree
from jobshadow.errors import PolicyDenied as PolicyDenied
from jobshadow.errors import ResultTooLarge as ResultTooLarge


@dataclass(frozen=True)
class Finding:
    """One problem the exposure scan found."""

    kind: str  # unlabelled, broad_grant, large_group, plaintext, sensitive_text, derived_labels, export, key_file
    resource: str
    message: str


@dataclass(frozen=True)
class RowRule:
    """Which rows a read may return: an Iceberg filter and/or a set of segments (by id, with
    their subjects, so the audit can name whose rows were read without reading them)."""

    expr: BooleanExpression | None
    segments: frozenset[str] | None
    subject_of: dict[str, str]
    filtered: bool


@dataclass
class GovernedRead:
    table: str
    data: pa.Table
    masked: list[str] = field(default_factory=list)
    decrypted: list[str] = field(default_factory=list)
    rows_filtered: bool = False
    policy_ids: list[str] = field(default_factory=list)
