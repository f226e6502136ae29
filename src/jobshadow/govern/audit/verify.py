"""Whole-log verification from leaf bytes and signed heads alone (curated zone / governance).

``verify_log`` reads one consistent snapshot through its own read-only connection (WAL readers
never block the writer) and trusts nothing stored except the leaf bytes and the public key:

1. Leaves are streamed in index order. A jump in indices is a deleted row. Each leaf's hash is
   recomputed from its bytes and compared with the stored one; the bytes must decode to a valid,
   canonical record whose indexed query columns agree with it.
2. The recomputed leaf hashes are folded into a compact range; every perfect subtree it completes
   is compared with the stored ``nodes`` row (missing, different, or left over beyond the tree).
   Those rows are what proofs are built from, so a wrong one would hand out wrong proofs.
3. Whenever the stream reaches a head's size, that head's root must equal the recomputed root.
   Heads must carry a valid signature by ``public_key``, grow monotonically in size and time, and
   never disagree at the same size (a fork). A head larger than the stored tree means leaves were
   cut off the end.
4. Consecutive heads, and the latest head and the recomputed current tree, must be linked by
   consistency proofs built from the stored nodes, as a third party would check them.

Each finding is a ``Problem`` with a stable ``kind`` code and the leaf index or head position it
concerns. Per kind, the first ``max_per_kind`` findings are listed and the rest counted, so one
deleted row in a million-leaf log gives a readable report. Leaves after the latest valid head are
not covered by any signature: they are counted in ``unsigned_leaves``, not reported as problems.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from jobshadow.govern.audit import merkle, schema
from jobshadow.govern.audit.errors import AuditError, AuditRecordError, AuditStoreError
from jobshadow.govern.audit.heads import SignedTreeHead, make_head
from jobshadow.govern.audit.merkle import CompactRange
from jobshadow.govern.audit.record import AuditRecord
from jobshadow.govern.audit.store import AuditLog

_FETCH = 4096


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding. ``kind`` is a stable code; ``index`` / ``head`` locate it when they apply.

    Kinds: leaf_missing, leaf_hash, leaf_invalid, leaf_columns, node_missing, node_mismatch,
    node_extra, head_invalid, head_signature, head_order, head_fork, head_beyond_tree, head_root,
    head_consistency, schema, more (a count of findings left out).
    """

    kind: str
    message: str
    index: int | None = None
    head: int | None = None


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What ``verify_log`` found. ``ok`` is true when there are no problems."""

    tree_size: int
    root_hash: bytes
    heads_checked: int
    latest_head_size: int | None
    unsigned_leaves: int
    problems: tuple[Problem, ...] = field(default=())
    roots: Mapping[int, bytes] = field(default_factory=dict)  # recomputed roots at asked-for sizes

    @property
    def ok(self) -> bool:
        return not self.problems

    def kinds(self) -> set[str]:
        return {p.kind for p in self.problems}

    def summary(self) -> str:
        """Human-readable lines for a terminal."""
        lines = [
            f"leaves: {self.tree_size}, root: {self.root_hash.hex()}",
            f"heads checked: {self.heads_checked}, latest signed size: {self.latest_head_size}, "
            f"leaves not yet covered by a signed head: {self.unsigned_leaves}",
        ]
        lines += [f"PROBLEM [{p.kind}] {p.message}" for p in self.problems]
        lines.append("OK" if self.ok else f"FAILED: {len(self.problems)} problem(s)")
        return "\n".join(lines)


class _Findings:
    def __init__(self, max_per_kind: int) -> None:
        self._max = max_per_kind
        self._listed: list[Problem] = []
        self._counts: dict[str, int] = {}

    def add(self, kind: str, message: str, *, index: int | None = None, head: int | None = None) -> None:
        n = self._counts.get(kind, 0) + 1
        self._counts[kind] = n
        if n <= self._max:
            self._listed.append(Problem(kind, message, index, head))

    def result(self) -> tuple[Problem, ...]:
        extra = [
            Problem("more", f"... and {n - self._max} more {kind} problem(s) not listed")
            for kind, n in self._counts.items()
            if n > self._max
        ]
        return (*self._listed, *extra)


class _StoredNodes:
    """Merge-joins stored ``nodes`` rows, per level in index order, against recomputed ones."""

    def __init__(self, conn: sqlite3.Connection, findings: _Findings) -> None:
        self._conn = conn
        self._findings = findings
        # Subtrees whose recomputed hash differs from what was stored. A parent of one is bound to
        # differ too, so only the lowest differing subtrees are reported. Entries are dropped
        # once their parent is checked, so the set stays O(log n).
        self.tainted: set[tuple[int, int]] = set()
        self.enabled = True
        levels = [int(r[0]) for r in conn.execute("SELECT DISTINCT level FROM nodes ORDER BY level")]
        self._cursors: dict[int, Iterator[tuple[int, bytes]]] = {lv: self._rows(lv) for lv in levels}
        self._peek: dict[int, tuple[int, bytes] | None] = {lv: next(self._cursors[lv], None) for lv in levels}

    def _rows(self, level: int) -> Iterator[tuple[int, bytes]]:
        cur = self._conn.execute("SELECT idx, hash FROM nodes WHERE level = ? ORDER BY idx", (level,))
        while rows := cur.fetchmany(_FETCH):
            for idx, h in rows:
                yield int(idx), h

    def check(self, level: int, idx: int, expected: bytes) -> None:
        if not self.enabled:
            return
        children = {(level - 1, 2 * idx), (level - 1, 2 * idx + 1)}
        implied = bool(children & self.tainted)
        self.tainted -= children
        first, last = idx << level, ((idx + 1) << level) - 1
        where = f"subtree (level {level}, index {idx}) over leaves [{first}, {last}]"
        while (row := self._peek.get(level)) is not None and row[0] < idx:
            self._extra(level, row[0])
            self._peek[level] = next(self._cursors[level], None)
        row = self._peek.get(level)
        if row is None or row[0] != idx:
            self._findings.add("node_missing", f"stored hash of {where} is missing", index=first)
            return
        if row[1] != expected:
            self.tainted.add((level, idx))
            if not implied:
                self._findings.add(
                    "node_mismatch", f"stored hash of {where} does not match the leaf bytes", index=first
                )
        self._peek[level] = next(self._cursors[level], None)

    def _extra(self, level: int, idx: int) -> None:
        self._findings.add(
            "node_extra",
            f"stored subtree (level {level}, index {idx}) over leaves from {idx << level} is not part of "
            "the stored tree (leaves removed from the end?)",
            index=idx << level,
        )

    def finish(self) -> None:
        if not self.enabled:
            return
        for level, row in self._peek.items():
            while row is not None:
                self._extra(level, row[0])
                row = next(self._cursors[level], None)


def _check_columns(index: int, record: AuditRecord, columns: tuple[object, ...], findings: _Findings) -> None:
    expected = (record.time, record.principal, record.action, record.resource, record.purpose)
    if columns != (*expected, record.decision, record.subject):
        findings.add("leaf_columns", f"leaf {index}: indexed query columns disagree with the leaf bytes", index=index)


def _load_heads(
    conn: sqlite3.Connection, public_key: Ed25519PublicKey, findings: _Findings,
    published: Sequence[SignedTreeHead] = (),
) -> list[tuple[int, SignedTreeHead]]:
    """Signature-checked heads as (publication position, head); bad ones are reported and dropped.

    ``published`` heads (copies kept outside the database) follow the stored ones, numbered on
    from them; they are checked like stored heads except for their order among themselves.
    """
    good: list[tuple[int, SignedTreeHead]] = []
    rows = conn.execute("SELECT tree_size, root_hash, timestamp, signature, key_id FROM heads ORDER BY seq")
    stored_rows = rows.fetchall()
    for pos, (size, root_hash, timestamp, signature, kid) in enumerate(stored_rows):
        try:
            head = make_head(size, root_hash, timestamp, signature, kid)
        except AuditError as exc:
            findings.add("head_invalid", f"head #{pos} is malformed: {exc}", head=pos)
            continue
        try:
            head.verify(public_key)
        except AuditError as exc:
            findings.add("head_signature", f"head #{pos}: {exc}", head=pos)
            continue
        good.append((pos, head))
    stored_good = list(good)
    for i, head in enumerate(published):
        pos = len(stored_rows) + i
        try:
            head.verify(public_key)
        except AuditError as exc:
            findings.add("head_signature", f"published head #{pos}: {exc}", head=pos)
            continue
        good.append((pos, head))
    prev: tuple[int, SignedTreeHead] | None = None
    for pos, head in stored_good:
        if prev is not None:
            ppos, phead = prev
            if head.tree_size < phead.tree_size:
                findings.add(
                    "head_order",
                    f"head #{pos} has size {head.tree_size}, smaller than head #{ppos} ({phead.tree_size})",
                    head=pos,
                )
            if head.timestamp < phead.timestamp:
                findings.add("head_order", f"head #{pos} is dated before head #{ppos}", head=pos)
        prev = (pos, head)
    first_at: dict[int, tuple[int, SignedTreeHead]] = {}
    for pos, head in good:
        seen = first_at.setdefault(head.tree_size, (pos, head))
        if seen[1].root_hash != head.root_hash:
            findings.add(
                "head_fork",
                f"heads #{seen[0]} and #{pos} both sign size {head.tree_size} with different roots",
                head=pos,
            )
    return good


def verify_log(
    log: AuditLog | str | os.PathLike[str],
    public_key: Ed25519PublicKey,
    *,
    check_columns: bool = True,
    max_per_kind: int = 20,
    published: Sequence[SignedTreeHead] = (),
    roots_at: Collection[int] = (),
) -> VerifyReport:
    """Verify the whole log at ``log`` (an open ``AuditLog`` or a path); see the module docstring.

    ``published`` are heads kept outside the database (the copies a verifier trusts): a log cut
    back, rewritten or stripped of its own heads still fails against them. ``roots_at`` are tree
    sizes whose roots, recomputed from the leaf bytes, the report carries (for witnesses' heads).

    Raises ``AuditStoreError`` only if the file cannot be read at all; everything else is a finding.
    """
    path = log.path if isinstance(log, AuditLog) else Path(log)
    try:
        conn = schema.connect(path, readonly=True, timeout=30.0)
    except sqlite3.Error as exc:
        raise AuditStoreError(f"cannot open audit log {path}: {exc}") from exc
    try:
        conn.execute("BEGIN")  # one snapshot for every read below
        return _verify(conn, public_key, check_columns=check_columns, max_per_kind=max_per_kind,
                       published=published, roots_at=frozenset(roots_at))
    except sqlite3.Error as exc:
        raise AuditStoreError(f"cannot read audit log {path}: {exc}") from exc
    finally:
        conn.close()


def _verify(
    conn: sqlite3.Connection, public_key: Ed25519PublicKey, *, check_columns: bool, max_per_kind: int,
    published: Sequence[SignedTreeHead] = (), roots_at: frozenset[int] = frozenset(),
) -> VerifyReport:
    findings = _Findings(max_per_kind)
    roots: dict[int, bytes] = {0: merkle.EMPTY_ROOT} if 0 in roots_at else {}
    problem = schema.schema_problem(conn)
    if problem:
        findings.add("schema", problem)
        return VerifyReport(0, merkle.EMPTY_ROOT, 0, None, 0, findings.result())
    heads = _load_heads(conn, public_key, findings, published)
    by_size: dict[int, list[tuple[int, SignedTreeHead]]] = {}
    for pos, head in heads:
        by_size.setdefault(head.tree_size, []).append((pos, head))
    matched: set[int] = set()  # positions of heads whose root equals the recomputed one
    for pos, head in by_size.get(0, []):
        if head.root_hash == merkle.EMPTY_ROOT:
            matched.add(pos)
        else:
            findings.add("head_root", f"head #{pos} signs an empty tree with a non-empty root", head=pos)

    stored = _StoredNodes(conn, findings)
    tree = CompactRange()
    last_good = 0  # largest head size whose root matched: leaves below it are proven intact
    prev_idx = -1
    cur = conn.execute(f"SELECT {schema.LEAF_COLUMNS} FROM leaves ORDER BY idx")  # noqa: S608 constant
    while rows := cur.fetchmany(_FETCH):
        for idx, leaf, stored_hash, *columns in rows:
            if idx != prev_idx + 1:
                after = f"the row after leaf {prev_idx}" if prev_idx >= 0 else "the first row"
                findings.add(
                    "leaf_missing",
                    f"leaves [{prev_idx + 1}, {idx}) are missing: {after} has index {idx}",
                    index=prev_idx + 1,
                )
                # Every later leaf now sits at another tree position; comparing stored subtree
                # hashes past this point would only repeat this finding thousands of times.
                stored.enabled = False
            prev_idx = idx
            data = bytes(leaf) if isinstance(leaf, bytes | bytearray | memoryview) else str(leaf).encode()
            h = merkle.leaf_hash(data)
            if stored_hash != h:
                findings.add("leaf_hash", f"leaf {idx}: stored leaf hash does not match its bytes", index=idx)
                stored.tainted.add((0, tree.size))
            try:
                record = AuditRecord.from_canonical(data)
            except AuditRecordError as exc:
                findings.add("leaf_invalid", f"leaf {idx} is not a valid audit record: {exc}", index=idx)
            else:
                if check_columns:
                    _check_columns(idx, record, tuple(columns), findings)
            for level, nidx, nhash in tree.append(h)[1:]:
                stored.check(level, nidx, nhash)
            if tree.size in roots_at:
                roots[tree.size] = tree.root()
            for pos, head in by_size.get(tree.size, []):
                if tree.root() == head.root_hash:
                    matched.add(pos)
                    last_good = max(last_good, tree.size)
                else:
                    findings.add(
                        "head_root",
                        f"head #{pos} (size {head.tree_size}) does not match the stored leaves: leaves in "
                        f"[{last_good}, {head.tree_size}) were altered, inserted, removed or reordered",
                        head=pos,
                        index=last_good,
                    )
    stored.finish()
    size, current_root = tree.size, tree.root()

    for pos, head in heads:
        if head.tree_size > size:
            findings.add(
                "head_beyond_tree",
                f"head #{pos} signs {head.tree_size} leaves but only {size} are stored: leaves "
                f"[{size}, {head.tree_size}) were removed",
                head=pos,
                index=size,
            )
    _check_consistency(conn, heads, matched, size, current_root, findings)
    latest = max((h.tree_size for _, h in heads), default=None)
    unsigned = size if latest is None else max(0, size - latest)
    return VerifyReport(size, current_root, len(heads), latest, unsigned, findings.result(), roots)


def _check_consistency(
    conn: sqlite3.Connection,
    heads: list[tuple[int, SignedTreeHead]],
    matched: set[int],
    size: int,
    current_root: bytes,
    findings: _Findings,
) -> None:
    """Link each matched head to the next, and the last to the current tree, by stored-node proofs."""
    nodes = schema.SqlNodes(conn)
    chain = sorted(((pos, h.tree_size, h.root_hash) for pos, h in heads if pos in matched), key=lambda c: c[1])
    chain.append((-1, size, current_root))
    for (pos, old_size, old_root), (npos, new_size, new_root) in itertools.pairwise(chain):
        if new_size < old_size:
            continue  # already reported as head_order
        target = "the current tree" if npos < 0 else f"head #{npos}"
        try:
            proof = merkle.consistency_proof(nodes, old_size, new_size)
            merkle.verify_consistency(old_size, new_size, old_root, new_root, proof)
        except AuditError as exc:
            findings.add(
                "head_consistency",
                f"no valid consistency proof from head #{pos} (size {old_size}) to {target} "
                f"(size {new_size}) can be built from the stored nodes: {exc}",
                head=pos,
            )
