"""Curated columns and rows generated from the shared record structs (curated zone).

Each field of a record in ``jobshadow.records`` says how it is curated (``column``, ``into``,
``not_curated``); this module turns those annotations into ``ColumnDef``s — name, Arrow type,
label, sealed or not — and turns a record into the row that holds it. Curation writes those rows
and ``jobshadow.lake.curated`` builds its tables from those columns, so a field added to a record
reaches the lake without another edit, and a field without an annotation is an error here (and
in the tests), never a silent loss.

AI-assistant prompts are decided once: a row marked as a prompt moves every typed field that
names a ``prompt`` column into that column (labelled ``ai_prompt``) and drops the other sealed
typed fields; ``prompt_columns`` gives the reverse map for readers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
import msgspec.inspect as mi
import pyarrow as pa

from jobshadow.errors import RecordSpecError
from jobshadow.lake.tabledef import ColumnDef
from jobshadow.records import Record

AI_PROMPT = "ai_prompt"
TYPED_TEXT = "typed_text"

_ARROW: dict[str, pa.DataType] = {"int32": pa.int32(), "int64": pa.int64(), "json": pa.string()}


@dataclass(frozen=True)
class FieldColumn:
    """One column a record field becomes: where its value is, and how it is stored."""

    path: tuple[str, ...]  # attribute path from the record (a flattened field has two or more)
    column: ColumnDef
    json: bool = False  # the value is stored as a JSON string
    prompt: ColumnDef | None = None  # where the value goes in a prompt row (None: dropped there)
    into: str | None = None  # the JSON column this value is a key of (``records.into``)


def _spec(meta: mi.Type) -> tuple[dict[str, Any] | None, str, bool]:
    """(lake spec, description, annotated) of a field's type."""
    if isinstance(meta, mi.Metadata):
        extra = meta.extra or {}
        doc = (meta.extra_json_schema or {}).get("description", "")
        if "lake" in extra:
            return extra["lake"], doc, True
        inner, inner_doc, annotated = _spec(meta.type)
        return inner, doc or inner_doc, annotated
    return None, "", False


def _base(t: mi.Type) -> mi.Type:
    while isinstance(t, mi.Metadata):
        t = t.type
    if isinstance(t, mi.UnionType):
        rest = [x for x in t.types if not isinstance(x, mi.NoneType)]
        if len(rest) == 1:
            return _base(rest[0])
    return t


def _arrow(t: mi.Type, override: str | None) -> pa.DataType:
    if override is not None:
        return _ARROW[override]
    base = _base(t)
    if isinstance(base, mi.FloatType):
        return pa.float64()
    if isinstance(base, mi.BoolType):
        return pa.bool_()
    if isinstance(base, mi.IntType):
        return pa.int32()
    if isinstance(base, mi.StrType) or (isinstance(base, mi.LiteralType)
                                          and all(isinstance(v, str) for v in base.values)):
        return pa.string()
    if isinstance(base, mi.VarTupleType | mi.ListType) and isinstance(_base(base.item_type), mi.StrType):
        return pa.list_(pa.string())
    raise RecordSpecError(f"no lake type for {base!r}: give it arrow=")


def field_columns(struct: type[Record]) -> list[FieldColumn]:
    """The columns a record struct's fields become, in field order (common ``t`` excluded)."""
    info = mi.type_info(struct)
    assert isinstance(info, mi.StructType)
    return _columns(info, (), None, struct.__name__)


def _columns(info: mi.StructType, prefix: tuple[str, ...], inherited: dict[str, Any] | None,
             where: str) -> list[FieldColumn]:
    out: list[FieldColumn] = []
    for f in info.fields:
        spec, doc, annotated = _spec(f.type)
        if not annotated:
            if inherited is None:
                raise RecordSpecError(f"{where}.{f.name} does not say how it is curated "
                                        "(records.column, records.into or records.not_curated)")
            spec = {**inherited, "flatten": False, "name": None}
        path = (*prefix, f.name)
        if spec is None or spec.get("common"):
            continue
        if "into" in spec:
            out.append(FieldColumn(path, ColumnDef(spec["into"], pa.string(), ""), into=spec["into"]))
            continue
        if spec["flatten"]:
            nested = _base(f.type)
            if not isinstance(nested, mi.StructType):
                raise RecordSpecError(f"{where}.{f.name}: only a struct can be flattened")
            out += _columns(nested, path, spec, f"{where}.{f.name}")
            continue
        name = spec["name"] or f.name
        arrow = _arrow(f.type, spec["arrow"])
        col = ColumnDef(name, arrow, spec["label"], sealed=spec["sealed"], doc=doc)
        prompt = (ColumnDef(spec["prompt"], arrow, AI_PROMPT, sealed=True, doc=f"{name} typed into an AI assistant")
                  if spec["prompt"] else None)
        out.append(FieldColumn(path, col, json=spec["arrow"] == "json", prompt=prompt))
    return out


def table_columns(structs: Iterable[type[Record]], *, derived: tuple[ColumnDef, ...] = (),
                  established: tuple[str, ...] = ()) -> tuple[ColumnDef, ...]:
    """The columns of a table holding rows of ``structs`` plus curation's own ``derived`` columns.

    Lakes already hold tables whose plain (warehouse) columns are in the order ``established``:
    appends are matched to them by position, and a new column is added at the end. So those come
    first, in that order; then new plain columns, in the order the records define them; then the
    sealed ones (never in the warehouse, so their order is free), prompt columns last.
    """
    found: dict[str, ColumnDef] = {}
    prompts: dict[str, ColumnDef] = {}
    for struct in structs:
        for fc in field_columns(struct):
            if fc.into is not None:
                continue
            _merge(found, fc.column, struct.__name__)
            if fc.prompt is not None:
                _merge(prompts, fc.prompt, struct.__name__)
    for col in derived:
        _merge(found, col, "curation")
    for col in prompts.values():
        _merge(found, col, "curation")
    missing = [n for n in established if n not in found or found[n].sealed]
    if missing:
        raise RecordSpecError(f"columns already in lakes are no longer written: {missing}")
    rest = [c for c in found.values() if c.name not in established]
    prompt_names = set(prompts)
    return (*(found[n] for n in established), *(c for c in rest if not c.sealed),
            *(c for c in rest if c.sealed and c.name not in prompt_names),
            *(c for c in rest if c.name in prompt_names))


def _merge(found: dict[str, ColumnDef], col: ColumnDef, where: str) -> None:
    have = found.get(col.name)
    if have is None:
        found[col.name] = col
    elif (have.type, have.label, have.sealed) != (col.type, col.label, col.sealed):
        raise RecordSpecError(f"{where} defines column {col.name} unlike another record does")
    elif col.doc and not have.doc:
        found[col.name] = ColumnDef(have.name, have.type, have.label, have.sealed, col.doc, have.also)


def prompt_columns(structs: Iterable[type[Record]]) -> dict[str, str]:
    """column -> the column the same value is stored in when typed into an AI assistant."""
    return {fc.column.name: fc.prompt.name for s in structs for fc in field_columns(s) if fc.prompt is not None}


def has_prompt_fields(struct: type[Record]) -> bool:
    """Whether rows of this struct hold typed content that an AI-assistant window relabels."""
    return any(fc.prompt is not None for fc in _cached(struct))

_CACHE: dict[type[Record], list[FieldColumn]] = {}


def _cached(struct: type[Record]) -> list[FieldColumn]:
    cols = _CACHE.get(struct)
    if cols is None:
        cols = _CACHE[struct] = field_columns(struct)
    return cols


def _dumps(value: Any) -> str:
    return json.dumps(msgspec.to_builtins(value), sort_keys=True)


def row_of(record: Record, *, prompt: bool = False) -> dict[str, Any]:
    """The curated row of one record (``t`` included); ``prompt``: typed into an AI assistant."""
    row: dict[str, Any] = {"t": getattr(record, "t", None)}
    packed: dict[str, dict[str, Any]] = {}
    for fc in _cached(type(record)):
        value: Any = record
        for name in fc.path:
            value = getattr(value, name) if value is not None else None
        if fc.into is not None:
            packed.setdefault(fc.into, {})[fc.path[-1]] = msgspec.to_builtins(value)
            continue
        if fc.json:
            value = _dumps(value)
        elif isinstance(value, tuple):
            value = list(value)
        if prompt and fc.column.label == TYPED_TEXT and fc.column.sealed:
            if fc.prompt is not None:
                row[fc.prompt.name] = value
            continue
        row[fc.column.name] = value
    for name, values in packed.items():
        row[name] = _dumps(values)
    return row
