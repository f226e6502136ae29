"""Table definitions: columns, their types and classification labels (curated zone).

A ``TableDef`` is what governance creates, labels, seals and checks; it never opens storage.
Every column carries exactly one classification label (``also`` adds labels for a column that
holds several kinds of data); a table's labels are the union of its columns'.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class ColumnDef:
    name: str
    type: pa.DataType
    label: str
    sealed: bool = False
    doc: str = ""
    also: tuple[str, ...] = ()  # further labels, for a column holding several kinds of data

    @property
    def labels(self) -> frozenset[str]:
        return frozenset((self.label, *self.also))


@dataclass(frozen=True)
class TableDef:
    name: str
    columns: tuple[ColumnDef, ...]
    doc: str = ""
    # Labels a derived table inherits from its inputs beyond its own columns' (no laundering: a
    # table derived from this one inherits them in turn).
    inherited: frozenset[str] = frozenset()

    @property
    def labels(self) -> frozenset[str]:
        return frozenset().union(*(c.labels for c in self.columns)) | self.inherited

    @property
    def plain(self) -> tuple[ColumnDef, ...]:
        return tuple(c for c in self.columns if not c.sealed)

    @property
    def sealed(self) -> tuple[ColumnDef, ...]:
        return tuple(c for c in self.columns if c.sealed)

    def column(self, name: str) -> ColumnDef:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def arrow_schema(self, *, sealed: bool = True) -> pa.Schema:
        cols = self.columns if sealed else self.plain
        return pa.schema([pa.field(c.name, c.type) for c in cols])
