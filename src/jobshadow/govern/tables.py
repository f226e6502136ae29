"""Labelled Iceberg tables, sealed column blocks and sealed media behind the governance door.

Curated zone. A table cannot be created without a label on every column (labels are known to the
purpose registry); labels are stored in the table's properties, so any engine reading the
catalog sees them. Sealed columns are stored as per-(subject, table, column, segment) blocks in
``curated.vault``; ``scan`` rebuilds rows with the requested sealed columns decrypted — or null
for a subject whose key was destroyed. Nothing here decides *whether* a read is allowed: that is
``policy``; this module only does what the door asks.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import warnings
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError
from pyiceberg.expressions import BooleanExpression

from jobshadow.errors import ConfigError
from jobshadow.govern.expr import both, eq, isin
from jobshadow.govern.keys import KeyUnavailable, SubjectKeys, seal, unseal
from jobshadow.govern.purposes import registry
from jobshadow.govern.storage import Storage
from jobshadow.lake import curated
from jobshadow.lake.curated import ColumnDef, TableDef

log = logging.getLogger(__name__)

P_LABELS = "jobshadow.labels"
P_COLUMN = "jobshadow.column."
P_DERIVED = "jobshadow.derived-from"
P_DECLASSIFIED = "jobshadow.declassified"
NAMES_TTL = 1.0


def _props(defn: TableDef, extra: dict[str, str] | None = None) -> dict[str, str]:
    props = {P_LABELS: ",".join(sorted(defn.labels)), "jobshadow.zone": "curated", "comment": defn.doc}
    names = {c.name for c in defn.columns}
    for key in ("segment_id", "subject"):
        # Exact (untruncated) bounds let a read see that a file holds one segment or one subject.
        if key in names:
            props[f"write.metadata.metrics.column.{key}"] = "full"
    for c in defn.columns:
        # Bounds of other text columns would copy the first 16 characters of values into the
        # manifests, outside the column's sealing and beyond a row delete; keep counts only.
        if c.name not in ("segment_id", "subject") and str(c.type) in ("string", "large_string", "binary",
                                                                      "large_binary", "list<item: string>"):
            props[f"write.metadata.metrics.column.{c.name}"] = "counts"
    for c in defn.columns:
        props[f"{P_COLUMN}{c.name}.labels"] = ",".join(sorted(c.labels))
        props[f"{P_COLUMN}{c.name}.sealed"] = "true" if c.sealed else "false"
        props[f"{P_COLUMN}{c.name}.type"] = str(c.type)
    props.update(extra or {})
    return props


SIMPLE_TYPES = {"string": pa.string(), "int32": pa.int32(), "int64": pa.int64(), "double": pa.float64(),
                "bool": pa.bool_(), "binary": pa.binary(), "timestamp[us, tz=UTC]": curated.TS,
                "list<item: string>": pa.list_(pa.string()), "float": pa.float32(), "large_string": pa.large_string(),
                "large_binary": pa.large_binary()}


def _type(name: str) -> pa.DataType:
    if name in SIMPLE_TYPES:
        return SIMPLE_TYPES[name]
    raise ConfigError(f"unsupported column type {name!r}")


def describe(table: Any) -> TableDef:
    """Rebuild a table's definition (columns, labels, sealing) from its catalog properties."""
    props = table.properties
    if P_LABELS not in props:
        raise ConfigError(f"table {'.'.join(table.name())} carries no labels")
    cols: list[ColumnDef] = []
    names = [f.name for f in table.schema().fields]
    sealed = sorted(k[len(P_COLUMN):-len(".sealed")] for k, v in props.items()
                    if k.startswith(P_COLUMN) and k.endswith(".sealed") and v == "true")
    arrow = table.schema().as_arrow()
    for name in [*names, *sealed]:
        labels = [x for x in props.get(f"{P_COLUMN}{name}.labels", "").split(",") if x]
        if not labels:
            raise ConfigError(f"column {name} of {'.'.join(table.name())} carries no labels")
        declared = props.get(f"{P_COLUMN}{name}.type", "string")
        # Nested types of plain columns come from the Iceberg schema; sealed ones are simple types.
        ctype = _type(declared) if declared in SIMPLE_TYPES or name in sealed else arrow.field(name).type
        cols.append(ColumnDef(name, ctype, labels[0], sealed=name in sealed, also=tuple(labels[1:])))
    own = frozenset().union(*(c.labels for c in cols))
    inherited = frozenset(x for x in props[P_LABELS].split(",") if x) - own
    return TableDef(".".join(table.name()), tuple(cols), props.get("comment", ""), inherited)


class GovernedTables:
    def __init__(self, storage: Storage, keys: SubjectKeys) -> None:
        self.storage = storage
        self.keys = keys
        self.locks = storage.table_locks
        self._lock = threading.Lock()
        self._defs: dict[str, TableDef] = {}
        self._names: tuple[float, list[str]] | None = None

    @property
    def catalog(self) -> Any:
        return self.storage.catalog

    # --- creation and description ------------------------------------------------------------------
    def create(self, defn: TableDef, *, derived_from: list[str] | None = None,
               extra: dict[str, str] | None = None) -> Any:
        """Create a labelled table; refused when any column lacks a (known) label."""
        reg = registry()
        for c in defn.columns:
            if not c.label:
                raise ConfigError(f"column {c.name} of {defn.name} has no label; unlabelled tables cannot exist")
            reg.check_labels(c.labels)
        ns = defn.name.split(".")[0]
        self.catalog.create_namespace_if_not_exists(ns)
        extra = dict(extra or {})
        if derived_from is not None:
            extra[P_DERIVED] = json.dumps(sorted(derived_from))
        schema = defn.arrow_schema(sealed=False)
        table = self.catalog.create_table_if_not_exists(defn.name, schema=schema, properties=_props(defn, extra))
        with self._lock:
            # An existing table keeps the definition its catalog entry describes, never the caller's.
            self._defs.pop(defn.name, None)
            self._names = None
        return table

    def ensure_curated(self) -> None:
        for defn in curated.ALL:
            table = self.create(defn)
            have = {f.name for f in table.schema().fields}
            want = _props(defn)
            if not any(c.name not in have for c in defn.plain) and all(table.properties.get(k) == v
                                                                        for k, v in want.items()):
                continue
            with self.locks.shared(defn.name):
                if any(c.name not in have for c in defn.plain):
                    # A lake made by an older version: new columns are added (optional), none dropped.
                    with table.update_schema() as update:
                        update.union_by_name(defn.arrow_schema(sealed=False))
                    table = self.load(defn.name)
                stale = {k: v for k, v in want.items() if table.properties.get(k) != v}
                if stale:  # a lake made by an older version: bring its properties up to date
                    with table.transaction() as tx:
                        tx.set_properties(stale)

    def load(self, name: str) -> Any:
        """The table's current metadata (read under its lock: a purge removes superseded versions)."""
        try:
            with self.locks.shared(name):
                return self.catalog.load_table(name)
        except NoSuchTableError:
            raise ConfigError(f"no table {name!r}") from None

    def definition(self, name: str) -> TableDef:
        with self._lock:
            cached = self._defs.get(name)
        if cached is not None:
            return cached
        defn = describe(self.load(name))
        with self._lock:
            self._defs[name] = defn
        return defn

    def names(self) -> list[str]:
        """Every table in the catalog (re-listed at most every NAMES_TTL s; this process's own
        creations and drops show at once)."""
        with self._lock:
            if self._names is not None and time.monotonic() - self._names[0] < NAMES_TTL:
                return list(self._names[1])
        out = []
        for ns in self.catalog.list_namespaces():
            for ident in self.catalog.list_tables(ns):
                out.append(".".join(ident))
        with self._lock:
            self._names = (time.monotonic(), sorted(out))
        return sorted(out)

    def forget_names(self) -> None:
        with self._lock:
            self._names = None

    def provenance(self, name: str) -> tuple[dict[str, list[str]], dict[str, Any] | None]:
        """A derived table's column sources ("table.column" per column) and its declassification."""
        props = self.load(name).properties
        sources = {k[len(P_COLUMN):-len(".sources")]: list(json.loads(v)) for k, v in props.items()
                   if k.startswith(P_COLUMN) and k.endswith(".sources")}
        raw = props.get(P_DECLASSIFIED)
        return sources, (json.loads(raw) if raw else None)

    def add_inputs(self, name: str, inputs: list[str]) -> None:
        """Record more inputs of a derived table (rows appended from them)."""
        with self.locks.shared(name):
            table = self.load(name)
            merged = sorted(set(json.loads(table.properties.get(P_DERIVED, "[]"))) | set(inputs))
            with table.transaction() as tx:
                tx.set_properties({P_DERIVED: json.dumps(merged)})

    def derived_from(self, name: str) -> list[str]:
        raw = self.load(name).properties.get(P_DERIVED)
        return list(json.loads(raw)) if raw else []

    # --- writing ------------------------------------------------------------------------------------
    def append(self, name: str, data: pa.Table) -> int:
        """Append rows (all columns, sealed ones included); sealed columns go to the vault."""
        defn = self.definition(name)
        table = self.load(name)
        plain = data.select([c.name for c in defn.plain])
        vault_rows = self._seal_columns(defn, data)
        if vault_rows:
            self._append_retrying(curated.VAULT.name, pa.Table.from_pylist(
                vault_rows, schema=curated.VAULT.arrow_schema(sealed=False)))
        if plain.num_rows:
            self._append_retrying(name, plain.cast(table.schema().as_arrow()))
        return int(data.num_rows)

    def _append_retrying(self, name: str, data: pa.Table) -> None:
        for attempt in range(20):
            try:
                with self.locks.shared(name):
                    table = self.load(name)
                    table.append(data.cast(table.schema().as_arrow()))
                return
            except CommitFailedException:
                time.sleep(0.05 * (attempt + 1))
        raise RuntimeError(f"could not commit to {name}")

    def _seal_columns(self, defn: TableDef, data: pa.Table) -> list[dict[str, Any]]:
        """One sealed block per (subject, segment, column): Arrow IPC of (seq, value) pairs."""
        if not defn.sealed or data.num_rows == 0:
            return []
        for needed in ("subject", "segment_id", "seq"):
            if needed not in data.column_names:
                raise ConfigError(f"{defn.name} has sealed columns, so its rows need a {needed} column")
        subjects = data.column("subject").to_pylist()
        segments = data.column("segment_id").to_pylist()
        if any(s is None for s in subjects) or any(s is None for s in segments):
            raise ConfigError(f"rows of {defn.name} with sealed columns need a subject and a segment_id")
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for i, key in enumerate(zip(subjects, segments, strict=True)):
            groups[key].append(i)
        now = datetime.now(UTC)
        out = []
        for (subject, segment), idx in groups.items():
            dek = self.keys.dek(subject)
            indices = pa.array(idx, pa.int64())
            seqs = data.column("seq").take(indices).combine_chunks().cast(pa.int64())
            for col in defn.sealed:
                values = data.column(col.name).take(indices).combine_chunks().cast(col.type)
                sink = io.BytesIO()
                schema = pa.schema([pa.field("seq", pa.int64()), pa.field(col.name, col.type)])
                with pa.ipc.new_stream(sink, schema) as w:
                    w.write_batch(pa.record_batch([seqs, values], schema=schema))
                out.append({"subject": subject, "table_name": defn.name, "column_name": col.name,
                            "segment_id": segment, "label": col.label, "rows": len(idx), "created_at": now,
                            "block": seal(dek, subject, defn.name, col.name, segment, sink.getvalue())})
        return out

    # --- reading ------------------------------------------------------------------------------------
    def scan(self, name: str, columns: list[str] | None = None, row_filter: BooleanExpression | None = None,
             decrypt: set[str] | None = None, *, segments: frozenset[str] | None = None,
             seen: set[str] | None = None) -> pa.Table:
        """See ``_scan``; the table's files stay while it reads them (``govern.locks``)."""
        with self.locks.shared(name):
            return self._scan(name, columns, row_filter, decrypt, segments=segments, seen=seen)

    def _scan(self, name: str, columns: list[str] | None = None, row_filter: BooleanExpression | None = None,
              decrypt: set[str] | None = None, *, segments: frozenset[str] | None = None,
              seen: set[str] | None = None) -> pa.Table:
        """Rows of ``name`` with ``columns`` (plain and sealed); sealed ones are decrypted when listed
        in ``decrypt`` (else null). A subject whose key is gone yields nulls for its sealed values.

        ``segments`` keeps only rows of those segments (and ``row_filter``'s); the segments that
        contributed rows are added to ``seen``. Curation writes one data file per segment, and a
        file whose exact bounds show a single allowed segment is read whole, without evaluating
        the filter row by row (the common case for training reads).
        """
        defn = self.definition(name)
        wanted = columns or [c.name for c in defn.columns]
        plain_cols = [c.name for c in defn.plain]
        needed_plain = [c for c in wanted if c in plain_cols]
        sealed_wanted = [c for c in wanted if c not in plain_cols]
        if sealed_wanted:
            for k in ("subject", "segment_id", "seq"):
                if k not in needed_plain:
                    needed_plain.append(k)
        table = self.load(name)
        if segments is not None:
            data = self._scan_segments(table, needed_plain, row_filter, segments, seen)
        else:
            scan = table.scan(row_filter=row_filter) if row_filter is not None else table.scan()
            data = scan.select(*needed_plain).to_arrow() if needed_plain else scan.to_arrow()
        for col in sealed_wanted:
            cdef = defn.column(col)
            if decrypt is not None and col in decrypt:
                data = data.append_column(pa.field(col, cdef.type), self._unsealed(defn, cdef, data))
            else:
                data = data.append_column(pa.field(col, cdef.type), pa.nulls(data.num_rows, cdef.type))
        return data.select(wanted)

    def _scan_segments(self, table: Any, columns: list[str], row_filter: BooleanExpression | None,
                       segments: frozenset[str], seen: set[str] | None) -> pa.Table:
        from pyiceberg.expressions import AlwaysTrue
        from pyiceberg.io.pyarrow import ArrowScan

        keep = isin("segment_id", sorted(segments))
        flt = keep if row_filter is None else both(row_filter, keep)
        with_key = list(dict.fromkeys([*columns, "segment_id"]))
        scan = table.scan(row_filter=flt, selected_fields=tuple(with_key))
        field_id = table.schema().find_field("segment_id").field_id
        whole: dict[str, list[Any]] = defaultdict(list)
        mixed = []
        for task in scan.plan_files():
            lo, hi = task.file.lower_bounds.get(field_id), task.file.upper_bounds.get(field_id)
            one = lo.decode("utf-8", "replace") if lo is not None and lo == hi else None
            if row_filter is None and one is not None and one in segments:
                whole[one].append(task)
            else:
                mixed.append(task)
        parts = []
        if whole:
            projection = table.scan(selected_fields=tuple(columns or ["segment_id"])).projection()
            parts.append(ArrowScan(table.metadata, table.io, projection, AlwaysTrue()).to_table(
                [t for tasks in whole.values() for t in tasks]))
        if mixed:
            got = ArrowScan(table.metadata, table.io, scan.projection(), flt).to_table(mixed)
            if seen is not None:
                seen.update(x for x in pc.unique(got.column("segment_id")).to_pylist() if x is not None)
            parts.append(got)
        if seen is not None:
            seen.update(whole)
        if not parts:
            return scan.projection().as_arrow().empty_table().select(columns)
        parts = [p.select(columns) for p in parts]
        return pa.concat_tables(parts) if len(parts) > 1 else parts[0]

    def _unsealed(self, defn: TableDef, col: ColumnDef, rows: pa.Table) -> pa.Array:
        if rows.num_rows == 0:
            return pa.array([], col.type)
        segments = sorted(set(rows.column("segment_id").to_pylist()))
        with self.locks.shared(curated.VAULT.name):
            vault = self.load(curated.VAULT.name).scan(row_filter=both(
                both(eq("table_name", defn.name), eq("column_name", col.name)), isin("segment_id", segments)),
                selected_fields=("subject", "segment_id", "block")).to_arrow()
        deks: dict[str, bytes | None] = {}
        values: dict[tuple[str, str, int], Any] = {}
        for subject, segment, block in zip(vault.column("subject").to_pylist(), vault.column("segment_id").to_pylist(),
                                           vault.column("block").to_pylist(), strict=True):
            if subject not in deks:
                try:
                    deks[subject] = self.keys.dek(subject)
                except KeyUnavailable:
                    deks[subject] = None  # erased: its values stay unreadable (null)
            dek = deks[subject]
            if dek is None:
                continue
            plain = unseal(dek, subject, defn.name, col.name, segment, block)
            with pa.ipc.open_stream(plain) as reader:
                got = reader.read_all()
            for seq, value in zip(got.column(0).to_pylist(), got.column(1).to_pylist(), strict=True):
                values[(subject, segment, seq)] = value
        out = [values.get((subject, segment, seq))
               for subject, segment, seq in zip(rows.column("subject").to_pylist(),
                                                rows.column("segment_id").to_pylist(),
                                                rows.column("seq").to_pylist(), strict=True)]
        return pa.array(out, col.type)

    # --- media --------------------------------------------------------------------------------------
    def media_name(self, subject: str, segment: str) -> str:
        return f"curated/media/{subject}/{segment}.h264.sealed"

    def put_media(self, subject: str, segment: str, data: bytes) -> str:
        sealed = seal(self.keys.dek(subject), subject, "media", "video", segment, data)
        tmp = self.storage.paths.staging / f"media-{subject}-{segment}.tmp"
        tmp.write_bytes(sealed)
        try:
            return self.storage.object_store.put_file(tmp, self.media_name(subject, segment))
        finally:
            tmp.unlink(missing_ok=True)

    def get_media(self, subject: str, segment: str) -> bytes:
        with self.storage.object_store.open(self.media_name(subject, segment)) as fh:
            blob = fh.read()
        return unseal(self.keys.dek(subject), subject, "media", "video", segment, blob)

    # --- deletion -----------------------------------------------------------------------------------
    def delete_rows(self, name: str, row_filter: BooleanExpression) -> None:
        for attempt in range(20):
            try:
                with self.locks.shared(name), warnings.catch_warnings():
                    # Deleting rows that are not there is a normal outcome (re-curation, erasure).
                    warnings.filterwarnings("ignore", "Delete operation did not match any records")
                    self.load(name).delete(delete_filter=row_filter)
                return
            except CommitFailedException:
                time.sleep(0.05 * (attempt + 1))
        raise RuntimeError(f"could not remove rows of {name}")

    def expire_and_purge(self, name: str) -> int:
        """Drop every snapshot but the current one and delete every file no longer referenced.

        After a delete, the old data files still hold the deleted rows (sealed, but present), and
        the old manifests' column bounds hold the first characters of their plain values; both go,
        as do metadata versions older than the current one. Returns the number of files removed.
        No commit or scan of the table runs meanwhile (``govern.locks``): a file a concurrent
        commit just wrote, or a reader of an older snapshot still needs, is never taken.
        """
        with self.locks.exclusive(name):
            return self._expire_and_purge(name)

    def _expire_and_purge(self, name: str) -> int:
        table = self.load(name)
        current = table.current_snapshot()
        if current is not None and any(m.deleted_files_count for m in current.manifests(table.io)):
            # A delete's own snapshot lists the removed files (with their column bounds) as DELETED
            # entries; the next snapshot no longer carries that manifest, so commit an empty one.
            table.append(table.schema().as_arrow().empty_table())
            table = self.load(name)
            current = table.current_snapshot()
        if current is not None:
            old = [s.snapshot_id for s in table.snapshots() if s.snapshot_id != current.snapshot_id]
            if old:
                table.maintenance.expire_snapshots().by_ids(old).commit()
                table = self.load(name)
        referenced = {table.metadata_location}
        for snap in table.snapshots():
            referenced.add(snap.manifest_list)
            for manifest in snap.manifests(table.io):
                referenced.add(manifest.manifest_path)
                for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                    referenced.add(entry.data_file.file_path)
        plain = {r.removeprefix("file://") for r in referenced}
        removed = 0
        for folder, suffixes in (("data", (".parquet",)), ("metadata", (".avro", ".metadata.json"))):
            fs, root = self.storage.filesystem(f"{table.location()}/{folder}")
            if not fs.exists(root):
                continue
            for path in fs.find(root):
                if path.endswith(suffixes) and path not in referenced and path.removeprefix("file://") not in plain:
                    fs.rm(path)
                    removed += 1
        return removed

    def warehouse_files(self) -> list[Path]:
        root = self.storage.paths.warehouse
        return sorted(p for p in root.rglob("*") if p.is_file())
