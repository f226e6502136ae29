"""A dataset rewritten without some tasks, for an erasure: Parquet, JSONL, images, card and manifest.

Curated zone. Called by the governance erasure (``jobshadow.govern.dataset_erasure``), which
says which tasks and segments to drop (the files themselves name no one) and gives an empty
folder beside the dataset; it fsyncs that folder and swaps it in. Here:

* every Parquet file is written anew from the rows it keeps: row-group statistics, dictionary
  pages and page indexes hold values, so no footer or page of the old file is carried over;
* every JSONL file keeps the lines of the tasks it keeps, byte for byte;
* an image is kept only while a kept row points at it;
* README.md and manifest.json are written again, counted from the files as they now are, with a
  "rewritten on … after an erasure request" line;
* any other file is left out: the build did not write it, so nothing says whose data it holds.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jobshadow.datasets.card import Contents, write_card
from jobshadow.datasets.writers import ROW_GROUP

STEPS_KEY = {"agentnet": "traj", "osworld": "steps"}  # where a JSONL task keeps its steps


def rewrite_dataset(source: Path, staging: Path, drop_tasks: frozenset[str], drop_segments: frozenset[str],
                    note: Mapping[str, str]) -> dict[str, int]:
    """Write ``source`` without ``drop_tasks`` into ``staging``; what was removed, counted."""
    meta = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    contents = Contents()
    removed: Counter[str] = Counter()
    images: set[str] = set()
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        rel = path.relative_to(source).as_posix()
        if rel in ("README.md", "manifest.json") or rel.startswith("images/"):
            continue
        target = staging / rel
        _private_dir(target.parent, staging)
        if path.suffix == ".parquet" and "task_id" in pq.read_schema(path).names:
            _parquet(path, target, drop_tasks, contents, removed, tasks_file=rel == "tasks.parquet")
        elif path.suffix == ".jsonl" and meta["format"] in STEPS_KEY:
            _jsonl(path, target, drop_tasks, STEPS_KEY[meta["format"]], contents, removed, images)
        else:
            removed["unknown_files"] += 1
    for path in sorted((source / "images").glob("*")) if (source / "images").is_dir() else []:
        if f"images/{path.name}" in images and path.is_file():
            _private_dir(staging / "images", staging)
            _link(path, staging / "images" / path.name)
        else:
            removed["images"] += 1
    kept = [s for s in meta["segments"] if s not in drop_segments]
    recording = {s: r for s, r in meta.get("recording", {}).items() if s in set(kept)}
    counts = {"tasks": removed["tasks"], "steps": removed["steps"], "images": removed["images"]}
    meta.update(registered=True, segments=kept, recording=recording,
                sessions=len({r["session"] for r in recording.values()}),
                recorded_s=sum(r["seconds"] for r in recording.values()),
                rewrites=[*meta.get("rewrites", []), {**note, **counts}])
    write_card(staging, meta, contents)
    return {**counts, "unknown_files": removed["unknown_files"]}


def _private_dir(path: Path, root: Path) -> None:
    while path != root and not path.is_dir():
        _private_dir(path.parent, root)
        path.mkdir(mode=0o700)


def _link(src: Path, dst: Path) -> None:
    """The same bytes without copying them (the old folder is removed after the swap)."""
    try:
        os.link(src, dst)
    except OSError:  # no hard links here (another file system): copy
        shutil.copy2(src, dst)
    os.chmod(dst, 0o600)


def _parquet(path: Path, target: Path, drop: frozenset[str], contents: Contents, removed: Counter[str], *,
             tasks_file: bool) -> None:
    source = pq.ParquetFile(path)
    schema = source.schema_arrow  # keeps the Hugging Face features in the schema metadata
    drop_array = pa.array(sorted(drop), pa.string())
    buffer: list[pa.Table] = []
    buffered = 0
    with pq.ParquetWriter(target, schema, compression="zstd") as writer:
        for batch in source.iter_batches(batch_size=ROW_GROUP):
            table = pa.Table.from_batches([batch], schema)
            gone = pc.fill_null(pc.is_in(table.column("task_id"), value_set=drop_array), False)
            kept = table.filter(pc.invert(gone))
            lost = table.filter(gone)
            if tasks_file:
                removed["tasks"] += lost.num_rows
                contents.tasks += kept.num_rows
                sources = Counter(kept.column("source").to_pylist()) if "source" in kept.column_names else Counter()
                contents.marker_tasks += sources["marker"]
                contents.auto_tasks += sources["auto"]
            else:
                removed["steps"] += lost.num_rows
                contents.steps += kept.num_rows
                contents.actions.update(kept.column("action_type").to_pylist())
                if "image" in table.column_names:
                    removed["images"] += lost.num_rows - lost.column("image").null_count
                    contents.images += kept.num_rows - kept.column("image").null_count
            if kept.num_rows:
                buffer.append(kept)
                buffered += kept.num_rows
            if buffered >= ROW_GROUP:  # row groups as the build wrote them: bounded memory for readers
                writer.write_table(pa.concat_tables(buffer), row_group_size=ROW_GROUP)
                buffer, buffered = [], 0
        if buffer:
            writer.write_table(pa.concat_tables(buffer), row_group_size=ROW_GROUP)
    os.chmod(target, 0o600)


def _jsonl(path: Path, target: Path, drop: frozenset[str], steps_key: str, contents: Contents,
           removed: Counter[str], images: set[str]) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, path.open("rb") as lines:
        for raw in lines:
            if not raw.strip():
                continue
            task: dict[str, Any] = json.loads(raw)
            steps = task.get(steps_key) or []
            if task.get("task_id") in drop:
                removed["tasks"] += 1
                removed["steps"] += len(steps)
                continue
            out.write(raw if raw.endswith(b"\n") else raw + b"\n")
            contents.tasks += 1
            source = task.get("task_source")
            contents.marker_tasks += source == "marker"
            contents.auto_tasks += source == "auto"
            for step in steps:
                contents.steps += 1
                action = (step.get("step") or {}).get("action_type") if steps_key == "traj" else step.get("action_type")
                if action:
                    contents.actions[action] += 1
                if step.get("image"):
                    contents.images += 1
                    images.add(step["image"])

