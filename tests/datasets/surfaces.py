"""Every stored surface of a dataset folder, searched for needles: what a canary test looks through.

Raw bytes of every file (JSONL, card, manifest, Parquet footers), and for Parquet also every
decoded value (pages are compressed, so raw bytes would miss them), every row group's column
statistics and the key-value metadata. Images are compared by their pixels elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq


def _strings(value: Any) -> str:
    """The value's text, bytes included as latin-1 so a needle in a binary column is found too."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, dict):
        return "\n".join(_strings(v) for v in value.values())
    if isinstance(value, list | tuple):
        return "\n".join(_strings(v) for v in value)
    return "" if value is None else str(value)


def parquet_text(path: Path) -> str:
    """Values, statistics and metadata of a Parquet file, as one text."""
    pf = pq.ParquetFile(path)
    parts = [json.dumps({k.decode("latin-1"): v.decode("latin-1") for k, v in (pf.metadata.metadata or {}).items()})]
    for rg in range(pf.metadata.num_row_groups):
        group = pf.metadata.row_group(rg)
        for c in range(group.num_columns):
            stats = group.column(c).statistics
            if stats is not None and stats.has_min_max:
                parts += [_strings(stats.min), _strings(stats.max)]
    table = pf.read()
    parts += [_strings(v) for col in table.columns for v in col.to_pylist()]
    return "\n".join(parts)


def found(root: Path, needles: list[str] | tuple[str, ...]) -> list[str]:
    """``file: needle`` for every needle found anywhere in the files under ``root``."""
    hits = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        text = data.decode("latin-1")
        if path.suffix == ".parquet":
            text += "\n" + parquet_text(path)
        hits += [f"{path.relative_to(root)}: {n}" for n in needles if n in text or n.encode() in data]
    return hits
