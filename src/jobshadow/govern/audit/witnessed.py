"""Checking the audit log against its witnesses: quorum, rewrites, truncation, first difference.

Trust zone: the verifier (an auditor's ``audit verify``). The operator's signatures prove only that
the operator signed; a witness's cosignature proves the log it saw grew append-only. So, for each
configured witness, the verifier asks the *witness* (never the operator's copies) for the latest
checkpoint it cosigned, checks the log's signature and the witness's cosignature on it, and
compares it with the root recomputed from the log's leaf bytes (``verify_log(roots_at=…)``):

* ``confirmed``   the log holds the witnessed tree: its first ``size`` records are unchanged;
* ``truncated``   the witness cosigned more records than the log holds: records were dropped;
* ``rewritten``   the log's first ``size`` records do not hash to the witnessed root;
* ``unreachable`` / ``invalid`` / ``empty``: the witness cannot vouch for anything now.

For a truncated or rewritten log the witness's mirrored leaf hashes are compared with the log's,
record by record, to name the exact first record that differs. The log passes when at least
``quorum`` witnesses confirm it and none saw it truncated or rewritten; the records beyond what a
quorum confirmed are the unwitnessed tail.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from jobshadow.govern.audit import merkle, schema
from jobshadow.govern.audit.errors import AuditError, AuditRecordError, AuditStoreError
from jobshadow.govern.audit.note import VerifierKey
from jobshadow.govern.audit.record import AuditRecord
from jobshadow.govern.audit.verify import Problem, VerifyReport
from jobshadow.govern.audit.witness import MAX_LEAVES
from jobshadow.govern.audit.witness_client import Cosigned, WitnessRef, WitnessUnavailable, latest, leaf_hashes

Fetched = tuple[WitnessRef, "Cosigned | str | None"]  # the checkpoint, None (nothing yet), or why not


@dataclass(frozen=True, slots=True)
class WitnessView:
    name: str
    url: str
    state: str  # confirmed, truncated, rewritten, unreachable, invalid, empty
    size: int | None
    cosigned_at: int | None
    message: str


@dataclass(frozen=True, slots=True)
class Difference:
    """The first record whose bytes differ from what a witness saw (``index`` in log order)."""

    index: int
    witness: str
    log_holds: str


@dataclass(frozen=True, slots=True)
class WitnessReport:
    views: tuple[WitnessView, ...]
    quorum: int
    tree_size: int
    witnessed_size: int | None
    first_difference: Difference | None

    @property
    def confirmed(self) -> int:
        return sum(v.state == "confirmed" for v in self.views)

    @property
    def ok(self) -> bool:
        return self.confirmed >= self.quorum and not any(v.state in ("truncated", "rewritten") for v in self.views)

    def problems(self) -> list[Problem]:
        out = [Problem(f"witness_{v.state}", f"witness {v.name}: {v.message}", index=v.size)
               for v in self.views if v.state in ("truncated", "rewritten")]
        if self.confirmed < self.quorum:
            out.append(Problem("witness_quorum", f"{self.confirmed} of {len(self.views)} witnesses confirm "
                                                 f"the log; {self.quorum} are required"))
        if self.first_difference is not None:
            d = self.first_difference
            out.append(Problem("first_difference", f"first record that differs: #{d.index} (witness {d.witness}); "
                                                   f"the log now holds {d.log_holds}", index=d.index))
        return out

    def lines(self) -> list[str]:
        out = [f"witness {v.name}: {v.state.upper() if v.state != 'confirmed' else 'confirmed'}, {v.message}"
               for v in self.views]
        if not self.views:
            out.append("NOT WITNESSED: no witnesses are configured, so whoever holds the signing key could "
                       "rewrite this log undetected")
        elif self.witnessed_size is not None:
            tail = self.tree_size - self.witnessed_size
            out.append(f"witnessed: {self.witnessed_size} of {self.tree_size} records by {self.confirmed} of "
                       f"{len(self.views)} witnesses (quorum {self.quorum}); {max(tail, 0)} newer record(s) "
                       "not yet witnessed")
        return out


def default_quorum(configured: int, witnesses: int) -> int:
    """``[govern] audit_quorum``, with 0 meaning a majority of the witnesses."""
    return configured if configured > 0 else (witnesses // 2 + 1 if witnesses else 0)


def fetch(witnesses: Sequence[WitnessRef], log_key: VerifierKey, timeout: float = 5.0) -> list[Fetched]:
    """Each witness's latest cosigned checkpoint, checked, or the reason there is none."""
    out: list[Fetched] = []
    for ref in witnesses:
        try:
            out.append((ref, latest(ref, log_key, timeout)))
        except WitnessUnavailable as exc:
            out.append((ref, f"unreachable: {exc}"))
        except AuditError as exc:
            out.append((ref, f"invalid: {exc}"))
    return out


def judge(log_path: Path, fetched: Sequence[Fetched], report: VerifyReport, quorum: int) -> WitnessReport:
    """Compare the witnesses' checkpoints with the recomputed log (``report`` needs their roots)."""
    views: list[WitnessView] = []
    suspects: list[tuple[WitnessRef, int]] = []
    n = report.tree_size
    for ref, got in fetched:
        if isinstance(got, str):
            state, _, why = got.partition(": ")
            views.append(WitnessView(ref.name, ref.url, state, None, None, why))
            continue
        if got is None:
            views.append(WitnessView(ref.name, ref.url, "empty", None, None, "has cosigned nothing yet"))
            continue
        size, when = got.head.tree_size, got.cosigned_at
        if size > n:
            msg = f"cosigned {size} records, the log holds {n}: records [{n}, {size}) were dropped"
            views.append(WitnessView(ref.name, ref.url, "truncated", size, when, msg))
            suspects.append((ref, size))
        elif report.roots.get(size) != got.head.root_hash:
            msg = f"cosigned size {size} with a root the log's first {size} records do not produce: rewritten"
            views.append(WitnessView(ref.name, ref.url, "rewritten", size, when, msg))
            suspects.append((ref, size))
        else:
            views.append(WitnessView(ref.name, ref.url, "confirmed", size, when, f"size {size} matches the log"))
    sizes = sorted((v.size for v in views if v.state == "confirmed" and v.size is not None), reverse=True)
    witnessed = sizes[quorum - 1] if quorum and len(sizes) >= quorum else (sizes[0] if sizes and not quorum else None)
    first = None
    for ref, size in suspects:
        try:
            found = first_difference(log_path, ref, size)
        except (AuditError, sqlite3.Error) as exc:
            views.append(WitnessView(ref.name, ref.url, "invalid", size, None, f"its leaf hashes: {exc}"))
            continue
        if found is not None and (first is None or found.index < first.index):
            first = found
    return WitnessReport(tuple(views), quorum, n, witnessed, first)


def first_difference(log_path: Path, ref: WitnessRef, upto: int) -> Difference | None:
    """The first position below ``upto`` where the log's leaf hash differs from the witness's."""
    conn = schema.connect(log_path, readonly=True, timeout=30.0)
    try:
        cur = conn.execute("SELECT leaf FROM leaves ORDER BY idx")
        pos = 0
        while pos < upto:
            theirs = leaf_hashes(ref, pos, min(upto, pos + MAX_LEAVES))
            rows = cur.fetchmany(len(theirs))
            for i, want in enumerate(theirs):
                if i >= len(rows):
                    return Difference(pos + i, ref.name, f"nothing: the log ends after {pos + i} records")
                leaf = bytes(rows[i][0])
                if merkle.leaf_hash(leaf) != want:
                    return Difference(pos + i, ref.name, describe(leaf))
            pos += len(theirs)
        return None
    except sqlite3.Error as exc:
        raise AuditStoreError(f"cannot read audit log {log_path}: {exc}") from exc
    finally:
        conn.close()


def describe(leaf: bytes) -> str:
    """A record's who/what/when, never its detail (for naming the record that differs)."""
    try:
        r = AuditRecord.from_canonical(leaf)
    except AuditRecordError:
        return "a record that is not a valid audit record"
    return f"{r.time} {r.principal} {r.action} {r.resource} ({r.decision})"
