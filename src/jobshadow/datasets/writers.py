"""Dataset formats: Hugging Face parquet, AgentNet-style JSONL, OSWorld pyautogui JSONL.

* ``hf``: ``data/train-NNNNN-of-MMMMM.parquet``, one row per step with an ``image`` column
  (``{"bytes", "path"}``, declared as an ``Image`` feature in the Hugging Face schema metadata so
  ``datasets.load_dataset("parquet", …)`` decodes it), shards rolled over before 500 MB, and
  ``tasks.parquet`` with one row per task.
* ``agentnet``: ``data.jsonl``, one task per line (``task_id``, ``instruction``, ``traj`` of
  steps with ``index``, ``image``, ``value.action``/``value.code`` and the canonical fields) and
  the frames in ``images/``.
* ``osworld``: ``trajectories.jsonl``, one task per line, each step's ``code`` a pyautogui
  string with coordinates normalised to [0, 1] at 4 decimals (``WAIT``/``DONE`` as in OSWorld),
  frames in ``images/``.

Files are written 0600 in 0700 folders: a dataset holds what people typed and saw. They hold no
subject, person or device id: each writer reports which tasks every file holds (``Written``), and
the governed build registers whose tasks those are (``jobshadow.govern.dataset_registry``), so
an erasure can find a person's rows without the files saying whose they are.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from jobshadow.datasets.canonical import step_row, steps_schema
from jobshadow.datasets.model import Step, Task

FORMATS = ("hf", "agentnet", "osworld")
SHARD_BYTES = 500 * 10**6
# Row groups of 64 steps: with 1080p frames a group is ~15 MB, which bounds the writer's memory
# and lets readers (datasets, DuckDB) stream an image dataset without holding much of it.
ROW_GROUP = 64
HF_METADATA = {"info": {"features": {"image": {"_type": "Image"}}}}


@dataclass
class Written:
    """What a writer wrote: the files as the card lists them, and the tasks each concrete file holds."""

    files: list[str]
    holdings: dict[str, set[str]] = field(default_factory=dict)  # relative path -> task ids


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def image_name(task: Task, step: Step, image_format: str) -> str:
    return f"{task.task_id}-{step.index:04d}.{'png' if image_format == 'png' else 'jpg'}"


def task_row(task: Task) -> dict[str, Any]:
    return {"task_id": task.task_id, "title": task.title, "source": task.source, "session_id": task.session_id,
            "apps": task.apps, "duration_s": round(task.duration, 3), "steps": len(task.steps),
            "segments": task.segments}


TASK_SCHEMA = pa.schema([("task_id", pa.string()), ("title", pa.string()), ("source", pa.string()),
                         ("session_id", pa.string()), ("apps", pa.list_(pa.string())), ("duration_s", pa.float64()),
                         ("steps", pa.int32()), ("segments", pa.list_(pa.string()))])


def write_hf(tasks: list[Task], out: Path, image_format: str, shard_bytes: int = SHARD_BYTES) -> Written:
    data = _private_dir(out / "data")
    schema = steps_schema(image=True).with_metadata({b"huggingface": json.dumps(HF_METADATA).encode()})
    shards: list[Path] = []
    held: list[set[str]] = []  # tasks with rows in each shard
    writer: pq.ParquetWriter | None = None
    written = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal writer, written
        if not batch:
            return
        if writer is None:
            path = data / f".shard-{len(shards):05d}.parquet"
            shards.append(path)
            held.append(set())
            # zstd on the image bytes too: screen JPEGs (flat areas, long zero runs) shrink by
            # about a quarter for ~5 % more build CPU (bench/datasets.py).
            writer = pq.ParquetWriter(path, schema, compression="zstd")
        writer.write_table(pa.Table.from_pylist(batch, schema=schema))
        held[-1].update(row["task_id"] for row in batch)
        batch.clear()

    for task in tasks:
        for step in task.steps:
            row = step_row(task, step)
            name = image_name(task, step, image_format)
            row["image"] = {"bytes": step.image, "path": name} if step.image is not None else None
            size = len(step.image or b"") + 2048
            if written and written + size > shard_bytes:  # this shard is full: rows so far go in it
                flush()
                if writer is not None:
                    writer.close()
                writer, written = None, 0
            batch.append(row)
            written += size
            if len(batch) >= ROW_GROUP:
                flush()
    flush()
    if writer is not None:
        writer.close()
    if not shards:  # an empty dataset is still a valid one
        pq.write_table(schema.empty_table(), data / ".shard-00000.parquet")
        shards.append(data / ".shard-00000.parquet")
        held.append(set())
    out_files = Written([])
    for i, path in enumerate(shards):
        final = data / f"train-{i:05d}-of-{len(shards):05d}.parquet"
        path.rename(final)
        final.chmod(0o600)
        out_files.files.append(f"data/{final.name}")
        out_files.holdings[f"data/{final.name}"] = held[i]
    pq.write_table(pa.Table.from_pylist([task_row(t) for t in tasks], schema=TASK_SCHEMA), out / "tasks.parquet")
    (out / "tasks.parquet").chmod(0o600)
    out_files.files.append("tasks.parquet")
    out_files.holdings["tasks.parquet"] = {t.task_id for t in tasks}
    return out_files


def _write_images(tasks: list[Task], out: Path, image_format: str) -> dict[str, set[str]]:
    images = _private_dir(out / "images")
    held: dict[str, set[str]] = {}
    for task in tasks:
        for step in task.steps:
            if step.image is not None:
                path = images / image_name(task, step, image_format)
                path.write_bytes(step.image)
                path.chmod(0o600)
                held[f"images/{path.name}"] = {task.task_id}
    return held


def _jsonl(path: Path, lines: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
    path.chmod(0o600)


def write_agentnet(tasks: list[Task], out: Path, image_format: str) -> Written:
    held = _write_images(tasks, out, image_format)

    def line(task: Task) -> dict[str, Any]:
        traj = []
        for step in task.steps:
            row = step_row(task, step)
            traj.append({"index": step.index,
                         "image": f"images/{image_name(task, step, image_format)}" if step.image else None,
                         "value": {"action": row["description"], "code": row["code"],
                                   "code_normalized": row["code_normalized"], "thought": None,
                                   "last_step_correct": None, "last_step_redundant": None},
                         "step": row})
        return {"task_id": task.task_id, "instruction": task.title, "task_source": task.source, "apps": task.apps,
                "duration_s": round(task.duration, 3), "screen": {"width": task.steps[0].screen[0],
                                                                 "height": task.steps[0].screen[1]},
                "traj": traj}

    _jsonl(out / "data.jsonl", (line(t) for t in tasks))
    return Written(["data.jsonl", "images/"], {"data.jsonl": {t.task_id for t in tasks}, **held})


def write_osworld(tasks: list[Task], out: Path, image_format: str) -> Written:
    held = _write_images(tasks, out, image_format)

    def line(task: Task) -> dict[str, Any]:
        w, h = task.steps[0].screen
        return {"task_id": task.task_id, "instruction": task.title, "task_source": task.source, "screen_width": w,
                "screen_height": h, "coordinates": "normalized", "steps": [
                    {"step": s.index, "image": f"images/{image_name(task, s, image_format)}" if s.image else None,
                     "code": step_row(task, s)["code_normalized"], "action_type": s.action.type}
                    for s in task.steps]}

    _jsonl(out / "trajectories.jsonl", (line(t) for t in tasks))
    return Written(["trajectories.jsonl", "images/"], {"trajectories.jsonl": {t.task_id for t in tasks}, **held})


def write(fmt: str, tasks: list[Task], out: Path, image_format: str) -> Written:
    _private_dir(out)
    if fmt == "hf":
        return write_hf(tasks, out, image_format)
    if fmt == "agentnet":
        return write_agentnet(tasks, out, image_format)
    if fmt == "osworld":
        return write_osworld(tasks, out, image_format)
    raise ValueError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
