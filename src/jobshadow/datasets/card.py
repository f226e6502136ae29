"""The dataset card (README.md): what is in a dataset, where it came from, what was removed, its schema.

The card is written at build time from the tasks, and again by every erasure rewrite from the
files as they are then (``Contents``), so its counts always describe the files beside it. Its
label rule names the labels of what the files hold — never ``subject_identity``: the files say
nothing about who a row is about — and the purposes all of those labels allow.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobshadow.datasets.canonical import STEP_FIELDS
from jobshadow.datasets.model import Task


@dataclass
class Contents:
    """The counts a card shows, taken from tasks (a build) or from the files (a rewrite)."""

    tasks: int = 0
    steps: int = 0
    images: int = 0
    marker_tasks: int = 0
    auto_tasks: int = 0
    actions: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, tasks: list[Task]) -> Contents:
        actions = Counter(s.action.type for t in tasks for s in t.steps)
        return cls(len(tasks), sum(actions.values()), sum(1 for t in tasks for s in t.steps if s.image is not None),
                   sum(t.source == "marker" for t in tasks), sum(t.source == "auto" for t in tasks), actions)


def _purposes(labels: list[dict[str, Any]]) -> list[str]:
    sets = [set(lab["purposes"]) for lab in labels]
    return sorted(set.intersection(*sets)) if sets else []


def card(meta: dict[str, Any], contents: Contents) -> str:
    actions = contents.actions
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
             f"| tasks | {contents.tasks} |", f"| steps | {contents.steps} |",
             f"| images | {contents.images} ({meta['image_format']}) |",
             f"| recorded time | {span} in {meta['sessions']} session(s), {len(meta['segments'])} segment(s) |",
             f"| tasks from contributor markers / split automatically | "
             f"{contents.marker_tasks} / {contents.auto_tasks} |", "",
             "Actions:", "", "| action | steps |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in sorted(actions.items())]
    lines += ["", "## Provenance", "",
              f"- built {meta['built_at']} by `{meta['principal']}` for purpose `{meta['purpose']}`, "
              f"engine `{meta['engine']}`, jobshadow {meta['version']}",
              f"- source: {meta['source']}"]
    if meta.get("dataset_table"):
        lines.append(f"- registered in the governed lake as `{meta['dataset_table']}` (derived from "
                     f"{', '.join('`' + t + '`' for t in meta['inputs'])}, whose every label it inherits); every "
                     "read of those inputs is in the audit log")
    lines += [f"- rewritten on {r['at']} after an erasure request: {r['tasks']} task(s), {r['steps']} step(s) and "
              f"{r['images']} image(s) of the person removed" for r in meta.get("rewrites", [])]
    lines.append(f"- source segments ({len(meta['segments'])}): " + ", ".join(f"`{s}`" for s in meta["segments"][:50])
                 + (" …" if len(meta["segments"]) > 50 else ""))
    purposes = _purposes(meta["labels"])
    lines += ["", "## Labels and purposes", "",
              "The files hold data under the labels below and may be used only for the purposes every one of them "
              f"allows: **{', '.join(purposes) or 'none'}**. They carry no subject identity (no person, subject or "
              "device id).", ""]
    if meta.get("registered"):
        lines += ["Which rows come from which person is kept only in the governed dataset registry, so that an "
                  "erasure request rewrites this dataset without that person (or withdraws it).", ""]
    else:
        lines += ["Built from one contributor's own segments on their device: it is not in the server's dataset "
                  "registry, so an erasure request on the server does not reach it.", ""]
    lines += ["| label | may serve | retention |", "| --- | --- | --- |"]
    lines += [f"| {lab['name']} | {', '.join(lab['purposes'])} | {lab['retention_days']} days |"
              for lab in meta["labels"]]
    q = meta["quality"]
    lines += ["", "## Filters applied", ""]
    if meta.get("rewrites"):
        lines += ["As counted when the dataset was built, before any erasure rewrite.", ""]
    lines += ["| filter | removed |", "| --- | --- |"]
    removed = {**meta["reduction_dropped"], **q["removed"]}
    for name in ("unpaired", "non_monotonic", "zero_scroll", "empty", "out_of_range", "no_frame", "own_window",
                 "empty_task"):
        lines.append(f"| {name} | {removed.get(name, 0)} |")
    lines += ["", "Flagged (kept): " + (", ".join(f"{k} {v}" for k, v in sorted(q["flagged"].items())) or "none"),
              "", "Reduction thresholds: " + ", ".join(f"{k} = {v}" for k, v in meta["thresholds"].items())
              + "; task split: " + ", ".join(f"{k} = {v}" for k, v in meta["task_thresholds"].items()) + ".",
              "", "## Schema", "", "One row per step (`hf`; the `traj` entries of `agentnet`, the `steps` of "
              "`osworld`). Coordinates are screen pixels; normalised ones are x / screen_width and "
              "y / screen_height at 4 decimals.", "", "| field | type | meaning |", "| --- | --- | --- |"]
    lines += [f"| {n} | {t} | {d} |" for n, t, d in STEP_FIELDS]
    if meta["format"] == "hf":
        lines.append("| image | image | the observation frame (before the action) |")
    lines += ["", "## Files", ""] + [f"- `{f}`" for f in meta["files"]] + [""]
    return "\n".join(lines)


def write_card(out: Path, meta: dict[str, Any], contents: Contents) -> None:
    """README.md (the card) and manifest.json (``meta``, which later rewrites read back), both 0600."""
    for name, text in (("README.md", card(meta, contents)), ("manifest.json", json.dumps(meta, indent=2, default=str))):
        fd = os.open(out / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(out / name, 0o600)
