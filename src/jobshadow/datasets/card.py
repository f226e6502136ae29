"""The dataset card (README.md): what is in a dataset, where it came from, what was removed, its schema."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from jobshadow.datasets.canonical import STEP_FIELDS
from jobshadow.datasets.model import Task


def card(meta: dict[str, Any], tasks: list[Task]) -> str:
    actions = Counter(s.action.type for t in tasks for s in t.steps)
    steps = sum(actions.values())
    images = sum(1 for t in tasks for s in t.steps if s.image is not None)
    recorded = meta["recorded_s"]
    span = f"{recorded / 3600:.2f} h" if recorded >= 3600 else f"{recorded / 60:.1f} min"
    front = ["---", "license: other", "pretty_name: " + meta["name"], "task_categories:", "- other",
             "tags:", "- computer-use", "- gui-agents", "- trajectories"]
    if meta["format"] == "hf":
        front += ["configs:", "- config_name: default", "  data_files:", "  - split: train",
                  "    path: data/train-*.parquet"]
    front.append("---")
    lines = [*front, "", f"# {meta['name']}", "",
             f"Trajectories of people doing everyday computer tasks, recorded with jobshadow and built for "
             f"**{meta['purpose']}** only. Format: **{meta['format']}**.", "",
             "## Contents", "",
             "| | |", "| --- | --- |",
             f"| tasks | {len(tasks)} |", f"| steps | {steps} |", f"| images | {images} ({meta['image_format']}) |",
             f"| recorded time | {span} in {meta['sessions']} session(s), {len(meta['segments'])} segment(s) |",
             f"| tasks from contributor markers / split automatically | "
             f"{sum(t.source == 'marker' for t in tasks)} / {sum(t.source == 'auto' for t in tasks)} |", "",
             "Actions:", "", "| action | steps |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in sorted(actions.items())]
    lines += ["", "## Provenance", "",
              f"- built {meta['built_at']} by `{meta['principal']}` for purpose `{meta['purpose']}`, "
              f"engine `{meta['engine']}`, jobshadow {meta['version']}",
              f"- source: {meta['source']}"]
    if meta.get("dataset_table"):
        lines.append(f"- registered in the governed lake as `{meta['dataset_table']}` (derived from "
                     f"{', '.join('`' + t + '`' for t in meta['inputs'])}); every read of those inputs is in the "
                     "audit log")
    lines.append(f"- source segments ({len(meta['segments'])}): " + ", ".join(f"`{s}`" for s in meta["segments"][:50])
                 + (" …" if len(meta["segments"]) > 50 else ""))
    lines += ["", "## Labels inherited", "",
              "The dataset carries every classification label of the data it was built from; it may be used only "
              "for the purposes all of them allow.", "", "| label | may serve | retention |", "| --- | --- | --- |"]
    lines += [f"| {lab['name']} | {', '.join(lab['purposes'])} | {lab['retention_days']} days |"
              for lab in meta["labels"]]
    q = meta["quality"]
    lines += ["", "## Filters applied", "", "| filter | removed |", "| --- | --- |"]
    removed = {**meta["reduction_dropped"], **q["removed"]}
    for name in ("unpaired", "non_monotonic", "zero_scroll", "empty", "out_of_range", "no_frame", "own_window",
                 "empty_task"):
        lines.append(f"| {name} | {removed.get(name, 0)} |")
    lines += ["", "Flagged (kept): " + (", ".join(f"{k} {v}" for k, v in sorted(q["flagged"].items())) or "none"),
              "", "Reduction thresholds: " + ", ".join(f"{k} = {v}" for k, v in asdict(meta["thresholds"]).items())
              + "; task split: " + ", ".join(f"{k} = {v}" for k, v in asdict(meta["task_thresholds"]).items()) + ".",
              "", "## Schema", "", "One row per step (`hf`; the `traj` entries of `agentnet`, the `steps` of "
              "`osworld`). Coordinates are screen pixels; normalised ones are x / screen_width and "
              "y / screen_height at 4 decimals.", "", "| field | type | meaning |", "| --- | --- | --- |"]
    lines += [f"| {n} | {t} | {d} |" for n, t, d in STEP_FIELDS]
    if meta["format"] == "hf":
        lines.append("| image | image | the observation frame (before the action) |")
    lines += ["", "## Files", ""] + [f"- `{f}`" for f in meta["files"]] + [""]
    return "\n".join(lines)
