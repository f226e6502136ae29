"""The governance door: every read and write of curated data passes here (curated zone).

``Governance`` owns the catalog, the object store, the keys, the policy engine and the audit log.
A read names a principal and a purpose; the door

1. asks Cedar about the table and about every column (deny by default, forbidden purposes
   forbidden, labels bound to purposes, grants time-limited);
2. writes the decisions to the tamper-evident audit log — and refuses the read if it cannot;
3. returns only allowed columns (denied ones are present but null, listed as masked), only rows
   the purpose may see, and decrypts sealed values only where allowed.

Row rules by purpose: ``model_training`` sees segments captured under a scope listing that
purpose, of subjects who have not withdrawn consent; ``subject_access`` sees only the asking
person's own rows; ``privacy_audit`` and ``processing`` see all rows (their columns are limited by
labels). Writes of derived tables must carry at least the union of their inputs' labels unless a
registered declassifier is named (itself audited); otherwise they are refused.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import AlwaysFalse, BooleanExpression

from jobshadow.config import Settings
from jobshadow.errors import ConfigError
from jobshadow.govern.administration import Administration
from jobshadow.govern.audit import AuditRecord, AuditWriteError, SignedTreeHead
from jobshadow.govern.blobs import Blobs
from jobshadow.govern.control import People, ProgrammeState
from jobshadow.govern.control.admin import ProgrammeAdmin
from jobshadow.govern.derived import PIPELINE, SCREEN_REDACTION, Derivation
from jobshadow.govern.duties import Duties
from jobshadow.govern.expr import both, eq, isin
from jobshadow.govern.heads import TrailReport, open_trail, verify_trail
from jobshadow.govern.keys import FileKEK, KeyUnavailable, SubjectKeys
from jobshadow.govern.landing import LandingZone
from jobshadow.govern.limits import QueryGuard, active_guard
from jobshadow.govern.model import Finding, GovernedRead, NotAuthenticated, PolicyDenied, ResultTooLarge, RowRule
from jobshadow.govern.policy import PolicyEngine, Request
from jobshadow.govern.purposes import registry
from jobshadow.govern.sql import analyse
from jobshadow.govern.state import GovernState
from jobshadow.govern.storage import Storage
from jobshadow.govern.tables import GovernedTables
from jobshadow.lake import curated
from jobshadow.lake.curated import TableDef

__all__ = [
    "PIPELINE",
    "SCREEN_REDACTION",
    "Finding",
    "Governance",
    "GovernedRead",
    "KeyUnavailable",
    "NotAuthenticated",
    "PolicyDenied",
    "ResultTooLarge",
]

log = logging.getLogger(__name__)

RESERVED_SCHEMAS = frozenset({"main", "temp", "information_schema", "pg_catalog", "system"})


class Governance(Administration, Derivation, Blobs):
    """The one door to curated data. Thread-safe; ``close()`` publishes a final audit head."""

    def __init__(self, settings: Settings, *, on_exposure: Callable[[list[Finding]], None] | None = None) -> None:
        self.settings = settings
        self.storage = Storage(settings)
        paths = self.storage.paths
        self.keys = SubjectKeys(paths.keys_db, FileKEK(self.storage.kek_path), self.storage.pseudonym_key)
        self.tables = GovernedTables(self.storage, self.keys)
        # The landing table may predate the current definition: evolve it before describing it.
        LandingZone(self.storage).table  # noqa: B018
        self.tables.ensure_curated()
        self.state = GovernState(self.storage.database_url)
        self.state.add_member(PIPELINE, "group:pipeline")
        # The programme's control state shares the governance state's database: one transaction.
        ttl = float(settings.server.enroll_code_ttl)
        self.control = ProgrammeState(self.state.engine)
        self.people = People(self.state.engine, ttl)
        self.duties = Duties(self.state.engine, ttl)
        landing = LandingZone(self.storage)
        self.programme = ProgrammeAdmin(self.control, self.people, self.audit, on_programme=landing.set_quarantined,
                                        landed=landing.scan_rows)
        self.policy = PolicyEngine(self.state, self._definitions())
        self.on_exposure = on_exposure
        self._audit_lock = threading.Lock()
        self._audit, self._heads = open_trail(self.storage)
        self._pool: list[duckdb.DuckDBPyConnection] = []
        self._pool_lock = threading.Lock()
        self._segment_cache: tuple[Any, list[tuple[str, str, tuple[str, ...]]]] | None = None

    def close(self) -> None:
        with self._pool_lock:
            for con in self._pool:
                con.close()
            self._pool.clear()
        self._heads.close()
        with self._audit_lock:
            self._audit.close()
        self.state.close()

    def __enter__(self) -> Governance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _definitions(self) -> list[TableDef]:
        return [self.tables.definition(n) for n in self.labelled_tables()]

    def labelled_tables(self) -> list[str]:
        """Tables the door serves. One without labels (made behind the door's back) is not an
        entity of the policy, so nothing can be read from it; the exposure scan reports it."""
        out = []
        for name in self.tables.names():
            try:
                self.tables.definition(name)
            except ConfigError as exc:
                log.warning("table %s is not served: %s", name, exc)
                continue
            out.append(name)
        return out

    def refresh_tables(self) -> None:
        self.policy.set_tables(self._definitions())

    # --- audit ----------------------------------------------------------------------------------------
    def audit(self, records: list[AuditRecord]) -> None:
        """Append decisions; if they cannot be written the access must not happen.

        A head covering them is signed, published and sent to the witnesses within ``[govern]
        audit_head_interval`` seconds (and on close); if heads cannot be signed, access is refused.
        """
        try:
            with self._audit_lock:
                self._audit.append_many(records)
            self._heads.appended(len(records))
            if self._heads.failing:
                self._heads.publish()
        except AuditWriteError as exc:
            raise PolicyDenied(f"access refused: the audit log cannot be written ({exc})") from None

    def publish_head(self) -> SignedTreeHead:
        """Sign and publish a head now, and send it to the witnesses."""
        return self._heads.publish()

    def verify_audit(self, quorum: int | None = None) -> TrailReport:
        """Check the whole log: its own heads, the published copies, and the witnesses (asked now)."""
        return verify_trail(self.storage, self._audit, quorum=quorum)

    def audit_records(self, *, table: str | None = None, subject: str | None = None, since: str | None = None,
                      principal: str | None = None, decision: str | None = None,
                      limit: int | None = None) -> list[tuple[int, AuditRecord]]:
        """Who did what: records filtered by table (and its columns), subject, time, principal."""
        prefix = f"table:{table}" if table else None
        with self._audit_lock:
            return self._audit.query(resource_prefix=prefix, subject=subject, since=since, principal=principal,
                                     decision=decision, limit=limit)

    def _record(self, principal: str, action: str, resource: str, purpose: str, allowed: bool,
                policy_ids: Iterable[str], reason: str = "", subject: str | None = None,
                detail: dict[str, str | int] | None = None) -> AuditRecord:
        # Records hold names and counts only, within the log's bounds (long lists are cut, marked).
        capped = {k: (v if isinstance(v, int) or len(v) <= 256 else v[:250] + ",…") for k, v in (detail or {}).items()}
        return AuditRecord.create(principal=principal, action=action, resource=resource, purpose=purpose,
                                  decision="allow" if allowed else "deny", policy_ids=tuple(policy_ids)[:64],
                                  reason=reason[:2000], subject=subject, detail=capped)

    def scan(self) -> list[Finding]:
        """The exposure scan (see ``jobshadow.govern.scan``)."""
        from jobshadow.govern.scan import exposure_scan

        return exposure_scan(self)

    def scan_warnings(self) -> list[Finding]:
        """What weakens a guarantee without being a finding (an audit key on this host, no witnesses)."""
        from jobshadow.govern.scan import exposure_warnings

        return exposure_warnings(self)

    # --- reads ----------------------------------------------------------------------------------------
    def _subject_of(self, principal: str) -> str | None:
        for p in self.state.principals():
            if p["id"] == principal:
                return str(p["subject"]) if p["subject"] else None
        return None

    def _row_rule(self, table: str, principal: str, purpose: str) -> RowRule:
        """The rows ``purpose`` may see in ``table``."""
        if purpose in ("processing", "privacy_audit"):
            return RowRule(None, None, {}, False)
        columns = {c.name for c in self.tables.definition(table).columns}
        if purpose == "subject_access":
            # Only the asker's own rows: by subject, or by person where a table names people
            # (landing); a table whose rows name nobody gives them none (issue 12: not a 500).
            subject = self._subject_of(principal)
            person = self.keys.person_of(subject) if subject else None
            if "subject" in columns:
                return RowRule(eq("subject", subject) if subject else isin("subject", []), None, {}, True)
            if "person_id" in columns:
                return RowRule(eq("person_id", person) if person else isin("person_id", []), None, {}, True)
            return RowRule(AlwaysFalse(), None, {}, True)
        if "subject" not in columns:
            return RowRule(None, None, {}, False)
        # Everyone else (model_training): segments captured for this purpose, of subjects who did
        # not withdraw and whose key still exists (both checked afresh on every read).
        segments = self._segment_purposes()
        withdrawn = self.withdrawn_subjects()
        subjects = sorted({subj for _, subj, _ in segments})
        alive = self.keys.available(subjects)
        allowed = {seg: subj for seg, subj, ps in segments if purpose in ps and subj not in withdrawn and subj in alive}
        if "segment_id" in columns:
            return RowRule(None, frozenset(allowed), allowed, True)
        ok_subjects = sorted({s for s in subjects if s in alive and s not in withdrawn})
        return RowRule(isin("subject", ok_subjects), None, {}, True)

    def _segment_purposes(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """(segment, subject, purposes) of every curated segment, cached per table snapshot."""
        snapshot = self.tables.load(curated.SEGMENTS.name).current_snapshot()
        key = None if snapshot is None else snapshot.snapshot_id
        cached = self._segment_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        seg = self.tables.scan(curated.SEGMENTS.name, ["subject", "segment_id", "purposes"])
        rows = [(s, subj, tuple(ps or ())) for s, subj, ps in zip(
            seg.column("segment_id").to_pylist(), seg.column("subject").to_pylist(),
            seg.column("purposes").to_pylist(), strict=True)]
        self._segment_cache = (key, rows)
        return rows

    def gate(self, principal: str, purpose: str, action: str, resource: str) -> None:
        """Refuse, and audit, before anything is read: a purpose that is forbidden or not registered,
        and any read while an exposure finding holds the programme (only ``privacy_audit`` may look,
        to investigate it)."""
        reg = registry()
        why, rule = "", "purpose-gate"
        if purpose in reg.forbidden:
            rule = "forbid-prohibited-purposes"
            why = f"{principal} may not {action} {resource} for {purpose} ({rule}): the purpose is forbidden"
        elif purpose not in reg.purposes:
            why = f"unknown purpose {purpose!r}; known: {', '.join(sorted(reg.purposes))}"
        elif purpose != "privacy_audit":
            prog = self.control.programme()
            if prog["state"] == "paused" and prog["cause"] == "exposure":
                why = "reads are stopped: an exposure finding paused the programme until a reviewer resumes it"
        if why:
            self.audit([self._record(principal, action, resource, purpose, False, (rule,), why)])
            refusal = PolicyDenied(why) if purpose in reg.purposes or purpose in reg.forbidden else ConfigError(why)
            refusal.audited = True
            raise refusal

    def read(self, principal: str, purpose: str, table: str, columns: list[str] | None = None,
             where: BooleanExpression | None = None, *, audit_subjects: bool = True) -> GovernedRead:
        """One governed table read (see the module docstring)."""
        self.gate(principal, purpose, "read", f"table:{table}")
        try:
            defn = self.tables.definition(table)
        except ConfigError:
            self.audit([self._record(principal, "read", f"table:{table}", purpose, False, (), "no such table")])
            raise
        names = [c.name for c in defn.columns]
        wanted = list(dict.fromkeys(columns)) if columns is not None else names
        unknown = [c for c in wanted if c not in set(names)]
        if unknown:
            raise ConfigError(f"{table} has no column(s) {', '.join(unknown)}")
        requests = [Request(principal, "read", table, purpose)] + [
            Request(principal, "read", f"{table}#{c}", purpose) for c in wanted]
        decisions = self.policy.authorize_many(requests)
        table_decision, col_decisions = decisions[0], dict(zip(wanted, decisions[1:], strict=True))
        allowed_cols = [c for c in wanted if col_decisions[c].allowed]
        masked = [c for c in wanted if not col_decisions[c].allowed]
        ids = sorted({p for d in decisions for p in d.policy_ids})
        if not table_decision.allowed or (wanted and not allowed_cols):
            reason = "denied by policy" if not table_decision.allowed else "no column may be read for this purpose"
            self.audit([self._record(principal, "read", f"table:{table}", purpose, False, table_decision.policy_ids,
                                     reason, detail={"masked": ",".join(masked)})])
            why = ", ".join(table_decision.policy_ids) if not table_decision.allowed else "every column is denied"
            raise PolicyDenied(f"{principal} may not read {table} for {purpose} ({why or 'no grant'})")
        rule = self._row_rule(table, principal, purpose)
        row_filter = rule.expr
        if where is not None:
            row_filter = where if row_filter is None else both(row_filter, where)
        sealed_allowed = {c for c in allowed_cols if defn.column(c).sealed}
        # The pipeline's reads are attributed too (``processing`` is a use of a person's data);
        # the landing table names people, not subjects: their subjects are derived for the audit.
        by_person = "subject" not in names and "person_id" in names
        track = audit_subjects and ("subject" in names or by_person)
        # Denied columns are not read at all; they come back as nulls so queries keep working.
        scan_cols = list(allowed_cols)
        seen: set[str] = set()
        by_segment = rule.segments is not None
        key = "person_id" if by_person else "subject"
        if track and not by_segment and key not in scan_cols:
            scan_cols.append(key)
        data = self.tables.scan(table, scan_cols, row_filter, decrypt=sealed_allowed, segments=rule.segments,
                                seen=seen) if scan_cols else None
        subjects: list[str] = []
        if track and by_segment:
            subjects = sorted({rule.subject_of[s] for s in seen})
        elif track and data is not None:
            found = [x for x in pc.unique(data.column(key)).to_pylist() if x]
            subjects = sorted({self.keys.pseudonym(x) for x in found} if by_person else set(found))
        n = data.num_rows if data is not None else 0
        arrays = []
        for c in wanted:
            ctype = defn.column(c).type
            arrays.append(data.column(c) if c in allowed_cols and data is not None else pa.nulls(n, ctype))
        out = pa.table(arrays, schema=pa.schema([pa.field(c, defn.column(c).type) for c in wanted])) if wanted \
            else pa.table({})
        records = [self._record(principal, "read", f"table:{table}", purpose, True, ids, detail={
            "rows": int(n), "columns": ",".join(allowed_cols), "masked": ",".join(masked)})]
        # One record per person whose data was read, so `subject export` can name recipients.
        records += [self._record(principal, "read", f"table:{table}", purpose, True, ids, subject=s,
                                 detail={"rows": int(n)}) for s in subjects]
        self.audit(records)
        return GovernedRead(table, out, masked, sorted(sealed_allowed), rule.filtered, ids)

    def query(self, principal: str, purpose: str, sql: str, *, max_rows: int | None = None) -> pa.Table:
        """Run one SELECT over governed reads of the tables it names (DuckDB, external access off).

        Only the columns the query names are read (all of them for ``*``); each goes through the
        same decisions as ``read``, so a column the principal may not see is null. The purpose is
        checked before any SQL is even parsed; a query refused for its SQL is audited as such.
        """
        self.gate(principal, purpose, "query", "sql")
        try:
            return self._query(principal, purpose, sql, max_rows=max_rows)
        except ConfigError as exc:  # SQL the door does not run, unknown tables, a failed query
            if not exc.audited:
                self.audit([self._record(principal, "query", "sql", purpose, False, ("sql",), str(exc)[:500])])
                exc.audited = True
            raise

    def _query(self, principal: str, purpose: str, sql: str, *, max_rows: int | None = None) -> pa.Table:
        shape = analyse(sql)
        g = self.settings.govern
        guard = active_guard() or QueryGuard(float(g.query_timeout), g.query_memory_mb)
        known = set(self.labelled_tables())
        unknown = sorted(t for t in shape.tables if t not in known and t not in shape.ctes)
        if unknown:
            raise ConfigError(f"no governed table {', '.join(unknown)}; tables: {', '.join(sorted(known))}")
        with self._duckdb() as con:
            views = []
            for name in sorted(t for t in shape.tables if t in known):
                defn = self.tables.definition(name)
                cols = [c.name for c in defn.columns if shape.columns is None or c.name in shape.columns]
                if not cols:
                    # count(*) and the like: one column the principal may read carries the rows.
                    ds = self.policy.authorize_many([Request(principal, "read", f"{name}#{c.name}", purpose)
                                                     for c in defn.plain])
                    readable = [c.name for c, d in zip(defn.plain, ds, strict=True) if d.allowed]
                    cols = readable[:1] or [defn.plain[0].name]
                guard.check()  # reads cannot be interrupted midway; a stopped query reads no further
                got = self.read(principal, purpose, name, cols)
                schema, _, tname = name.partition(".")
                if not (schema.isidentifier() and tname.isidentifier()) or schema in RESERVED_SCHEMAS:
                    raise ConfigError(f"table {name!r} cannot be queried by name")
                con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                con.register(f"__gov_{schema}_{tname}", got.data)
                views.append((schema, f"__gov_{schema}_{tname}"))
                # Names come from the catalog and were checked to be plain identifiers above.
                con.execute(f'CREATE VIEW "{schema}"."{tname}" AS SELECT * FROM "__gov_{schema}_{tname}"')  # noqa: S608
            try:
                with guard.interrupting(con):
                    rel = con.sql(sql)
                    result = rel.limit(max_rows + 1).to_arrow_table() if max_rows is not None else rel.to_arrow_table()
            except duckdb.Error as exc:
                raise guard.failure(exc) from None
            finally:
                for schema, registered in views:
                    con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                    con.unregister(registered)
        if max_rows is not None and result.num_rows > max_rows:
            raise ResultTooLarge(f"the result has more than {max_rows} rows; aggregate or add LIMIT")
        return result

    @contextlib.contextmanager
    def _duckdb(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A locked-down DuckDB connection from a small pool (opening one costs ~12 ms).

        External access, extension loading and Python replacement scans are off and the
        configuration is locked, so SQL can reach nothing but the views the door registers; a
        connection goes back to the pool only once its views are dropped. Each has ``[govern]
        query_memory_mb`` of memory and no temporary directory: past the limit a query fails.
        """
        with self._pool_lock:
            con = self._pool.pop() if self._pool else None
        if con is None:
            con = duckdb.connect(config={"enable_external_access": False, "autoinstall_known_extensions": False,
                                         "autoload_known_extensions": False, "python_enable_replacements": False,
                                         "memory_limit": f"{self.settings.govern.query_memory_mb}MB",
                                         "temp_directory": ""})
            con.execute("SET lock_configuration = true")
        clean = False
        try:
            yield con
            clean = con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone() == (0,)
        finally:
            if clean:
                with self._pool_lock:
                    self._pool.append(con)
            else:
                con.close()

    # --- writes ---------------------------------------------------------------------------------------
    def write(self, principal: str, purpose: str, table: str, data: pa.Table) -> int:
        """Append rows to an existing table (authorised and audited)."""
        d = self.policy.authorize(principal, "write", table, purpose)
        self.audit([self._record(principal, "write", f"table:{table}", purpose, d.allowed, d.policy_ids,
                                 "" if d.allowed else "denied by policy", detail={"rows": int(data.num_rows)})])
        if not d.allowed:
            raise PolicyDenied(f"{principal} may not write {table} for {purpose}")
        return self.tables.append(table, data)

    def delete_where(self, principal: str, purpose: str, table: str, row_filter: BooleanExpression,
                     description: str) -> None:
        d = self.policy.authorize(principal, "write", table, purpose)
        self.audit([self._record(principal, "delete", f"table:{table}", purpose, d.allowed, d.policy_ids,
                                 description[:2000])])
        if not d.allowed:
            raise PolicyDenied(f"{principal} may not remove rows of {table} for {purpose}")
        self.tables.delete_rows(table, row_filter)

    def read_media(self, principal: str, purpose: str, segment: str) -> bytes:
        """A segment's screen media (H.264 access units), if ``purpose`` may see screen content and
        this segment's rows (the same row rule as every table read)."""
        d = self.policy.authorize(principal, "read", f"{curated.FRAMES.name}#media_offset", purpose)
        subject = {seg: subj for seg, subj, _ in self._segment_purposes()}.get(segment)
        allowed = d.allowed and subject is not None
        if allowed and purpose == "subject_access":
            allowed = subject == self._subject_of(principal)
        elif allowed and purpose not in ("processing", "privacy_audit"):
            rule = self._row_rule(curated.FRAMES.name, principal, purpose)
            allowed = rule.segments is not None and segment in rule.segments
        self.audit([self._record(principal, "read", "blob:media", purpose, allowed, d.policy_ids,
                                 "" if allowed else "denied by policy or row rule", subject=subject,
                                 detail={"segment": segment})])
        if not allowed or subject is None:
            raise PolicyDenied(f"{principal} may not see the screen of segment {segment} for {purpose}")
        return self.tables.get_media(subject, segment)

    def person_of(self, subject: str) -> str | None:
        """The control-plane person id behind a subject (None if unknown)."""
        return self.keys.person_of(subject)

    def subject_for(self, person_id: str) -> str:
        """The pseudonymous subject of a person, creating their data key on first use."""
        return self.keys.ensure(person_id)

    def lineage(self, name: str) -> list[str]:
        """Every table ``name`` was derived from, transitively."""
        out: list[str] = []
        todo = [name]
        while todo:
            cur = todo.pop()
            for src in self.tables.derived_from(cur):
                if src not in out:
                    out.append(src)
                    todo.append(src)
        return out

    def derived_tables(self) -> dict[str, list[str]]:
        return {n: self.tables.derived_from(n) for n in self.labelled_tables() if self.tables.derived_from(n)}
