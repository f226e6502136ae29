"""Derived tables: their labels cover their inputs' unless a registered declassifier says otherwise (curated zone).

A derived table (a dataset, an aggregate) is written only through ``write_derived``: every column
carries at least the labels of the input columns it was computed from, the table as a whole
inherits every label of every input (so a chain of derivations cannot launder a label away), and
text under a content label is sealed per subject like the curated tables. Lowering a label needs
a registered declassifier naming it, and the lowering is audited; anything else is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pyarrow as pa

from jobshadow.errors import ConfigError
from jobshadow.govern.model import PolicyDenied
from jobshadow.govern.policy import Request
from jobshadow.govern.purposes import registry
from jobshadow.govern.tables import P_COLUMN, P_DECLASSIFIED, SIMPLE_TYPES
from jobshadow.lake.curated import ColumnDef, TableDef

if TYPE_CHECKING:
    from jobshadow.govern.audit import AuditRecord
    from jobshadow.govern.policy import PolicyEngine
    from jobshadow.govern.state import GovernState
    from jobshadow.govern.tables import GovernedTables

PIPELINE = "service:pipeline"
DATASETS = "datasets"
# Built-in declassifier steps: registered on first use, audited on every use.
SCREEN_REDACTION = "screen_redaction"
BUILTIN_DECLASSIFIERS = {
    SCREEN_REDACTION: "The redact stage: screen frames are read (OCR) and every secret or piece of personal data "
    "found is filled before a frame is curated; frames it cannot check are withheld. Lowers no label.",
}


class Derivation:
    """Mixed into ``Governance``."""

    if TYPE_CHECKING:
        state: GovernState
        tables: GovernedTables
        policy: PolicyEngine

        def audit(self, records: list[AuditRecord]) -> None: ...

        def _record(self, principal: str, action: str, resource: str, purpose: str, allowed: bool,
                    policy_ids: tuple[str, ...] | list[str], reason: str = "", subject: str | None = None,
                    detail: dict[str, str | int] | None = None) -> AuditRecord: ...

        def labelled_tables(self) -> list[str]: ...

        def refresh_tables(self) -> None: ...

        def _segment_purposes(self) -> list[tuple[str, str, tuple[str, ...]]]: ...

    def declassify_step(self, principal: str, purpose: str, declassifier: str, resource: str, subject: str | None,
                        detail: dict[str, str | int]) -> None:
        """Audit one use of a registered declassifier step on ``resource`` (counts only in ``detail``).

        The built-in steps are registered the first time they run.
        """
        if self.state.declassifier(declassifier) is None:
            description = BUILTIN_DECLASSIFIERS.get(declassifier)
            if description is None:
                raise PolicyDenied(f"no registered declassifier {declassifier!r}")
            try:
                self.state.register_declassifier(declassifier, [], description, by="system:jobshadow")
            except Exception:
                if self.state.declassifier(declassifier) is None:  # not a concurrent registration
                    raise
        self.audit([self._record(principal, "declassify", resource, purpose, True, (f"declassifier:{declassifier}",),
                                 "declassifier step", subject=subject, detail=detail)])

    def write_derived(self, principal: str, purpose: str, name: str, data: pa.Table, *, inputs: list[str],
                      column_labels: dict[str, list[str]], column_sources: dict[str, list[str]],
                      sealed: Iterable[str] = (), declassifier: str | None = None) -> TableDef:
        """Create (or append to) a derived table whose labels cover its inputs'.

        ``column_sources`` maps each output column to the input columns ("table.column") it was
        computed from; its labels must include theirs. Lowering that is possible only through a
        registered ``declassifier`` naming the labels it removes; the lowering is audited.
        """
        reg = registry()
        reg.check_purpose(purpose)
        if "subject" not in data.column_names and "segment_id" in data.column_names:
            # Rows built by a reader who may not see who they are about (model training): the door
            # fills in the subject from the segment, so sealing and erasure work per person.
            data, column_labels = self._with_subjects(name, data, column_labels)
        removable: frozenset[str] = frozenset()
        if declassifier is not None:
            found = self.state.declassifier(declassifier)
            if found is None:
                raise PolicyDenied(f"no registered declassifier {declassifier!r}")
            removable = found
        cols = []
        lowered: list[str] = []
        for f in data.schema:
            labels = frozenset(column_labels.get(f.name, ()))
            if not labels:
                raise PolicyDenied(f"column {f.name} of {name} has no label; unlabelled data cannot be written")
            reg.check_labels(labels)
            required: set[str] = set()
            for src in column_sources.get(f.name, []):
                tname, _, cname = src.rpartition(".")
                if tname not in inputs:
                    raise ConfigError(f"column {f.name} names source {src!r}, which is not among the inputs")
                try:
                    required |= self.tables.definition(tname).column(cname).labels
                except KeyError:
                    raise ConfigError(f"source {src!r} of column {f.name} does not exist") from None
            missing = required - labels
            if missing - removable:
                self.audit([self._record(principal, "write", f"table:{name}", purpose, False, (),
                                         f"column {f.name} would drop labels {sorted(missing - removable)}")])
                raise PolicyDenied(f"refused: column {f.name} of {name} would carry less than its inputs' labels "
                                   f"({', '.join(sorted(missing - removable))}); no declassifier allows it")
            if missing:
                lowered.append(f"{f.name}:-{','.join(sorted(missing))}")
            ordered = sorted(labels)
            # Text and bytes under a content label never lie in the warehouse in the clear.
            must_seal = bool(labels & SEAL_LABELS) and _is_content_type(f.type)
            if f.name in ("subject", "segment_id", "seq") and (must_seal or f.name in set(sealed)):
                raise ConfigError(f"{f.name} keys sealed values and cannot itself be sealed")
            if (must_seal or f.name in set(sealed)) and str(f.type) not in SIMPLE_TYPES:
                raise ConfigError(f"column {f.name} ({f.type}) must be sealed, and only simple types can be")
            cols.append(ColumnDef(f.name, f.type, ordered[0], sealed=must_seal or f.name in set(sealed),
                                  also=tuple(ordered[1:])))
        for src in inputs:
            if src not in set(self.labelled_tables()):
                raise ConfigError(f"input table {src!r} does not exist")
        # The table as a whole carries every label of every input, less what a declassifier removes.
        inherited_all: set[str] = set()
        for src in inputs:
            inherited_all |= self.tables.definition(src).labels
        own = frozenset().union(*(c.labels for c in cols))
        dropped = inherited_all - own - set(removable)
        inherited = frozenset(dropped)
        table_lowered = sorted((inherited_all - own) & set(removable))
        if table_lowered:
            lowered.append(f"table:-{','.join(table_lowered)}")
        # A dataset (datasets.*) is an export of its inputs: it needs `export` on every one of them
        # for the purpose. Any other new table is not yet an entity: writing it needs the pipeline
        # or a grant on it.
        is_dataset = name.startswith(DATASETS + ".")
        first = [Request(principal, "export", src, purpose) for src in inputs] if is_dataset else [
            Request(principal, "write", name, purpose)]
        decisions = self.policy.authorize_many(first + [Request(principal, "read", src, purpose) for src in inputs])
        if is_dataset:
            write_ok = all(d.allowed for d in decisions[: len(inputs)])
            decisions = [decisions[0], *decisions[len(inputs):]]
        else:
            write_ok = decisions[0].allowed or (principal == PIPELINE and purpose == "processing")
        if not write_ok or not all(d.allowed for d in decisions[1:]):
            self.audit([self._record(principal, "write", f"table:{name}", purpose, False,
                                     sorted({p for d in decisions for p in d.policy_ids}), "denied by policy")])
            raise PolicyDenied(f"{principal} may not derive {name} from {', '.join(inputs)} for {purpose}")
        defn = TableDef(name, tuple(cols), f"derived from {', '.join(sorted(inputs))}", inherited)
        existing: TableDef | None = None
        if name in set(self.tables.names()):
            # Appending: the rows must fit the table as it is, labels included — never relabel it.
            existing = self.tables.definition(name)
            if [(c.name, c.labels, c.sealed) for c in existing.columns] != [(c.name, c.labels, c.sealed)
                                                                          for c in defn.columns] \
                    or not existing.labels >= defn.labels:
                raise ConfigError(f"{name} exists with other columns or labels; derive into a new table")
        provenance = {f"{P_COLUMN}{c}.sources": json.dumps(sorted(srcs)) for c, srcs in column_sources.items()}
        if lowered:
            provenance[P_DECLASSIFIED] = json.dumps({"by": declassifier, "lowered": lowered})
        records = [self._record(principal, "write", f"table:{name}", purpose, True,
                                sorted({p for d in decisions for p in d.policy_ids}),
                                detail={"inputs": ",".join(sorted(inputs))[:1000], "rows": int(data.num_rows)})]
        if lowered:
            records.append(self._record(principal, "declassify", f"table:{name}", purpose, True,
                                        (f"declassifier:{declassifier}",),
                                        detail={"lowered": ";".join(lowered)[:1000]}))
        self.audit(records)
        if existing is None:
            self.tables.create(defn, derived_from=inputs, extra=provenance)
        else:
            self.tables.add_inputs(name, inputs)
        self.tables.append(name, data)
        self.refresh_tables()
        return existing or defn

    def _with_subjects(self, name: str, data: pa.Table, column_labels: dict[str, list[str]]
                       ) -> tuple[pa.Table, dict[str, list[str]]]:
        subject_of = {seg: subj for seg, subj, _ in self._segment_purposes()}
        segments = data.column("segment_id").to_pylist()
        unknown = sorted({s for s in segments if s not in subject_of})
        if unknown:
            raise ConfigError(f"rows of {name} name segments the lake does not hold: {', '.join(unknown[:5])}")
        data = data.append_column("subject", pa.array([subject_of[s] for s in segments], pa.string()))
        return data, {**column_labels, "subject": ["subject_identity"]}


SEAL_LABELS = frozenset({"typed_text", "ai_prompt", "window_title", "screen_content"})


def _is_content_type(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
                or pa.types.is_large_binary(t) or pa.types.is_list(t) or pa.types.is_struct(t))
