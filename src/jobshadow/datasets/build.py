"""``jobshadow dataset build``: sessions → tasks of steps → frames → filters → files, card, lake table.

The order keeps the heavy work small: steps are reduced and filtered before any frame is decoded,
and only the frames a kept step shows (plus the two around each click, fingerprinted) are decoded,
segment by segment, on the chosen engine. A dataset built from the governed lake is registered
there as a derived table (``datasets.<name>``) written through the door, so it inherits every
label of its inputs, and in the governed dataset registry with its location, format, purpose,
builder and whose data each file holds (so erasure can reach it; the files themselves name no
one), which also records it as an export the exposure scan checks. The registry entry is made
before the files move into place, so no dataset of the lake ever lies on disk unregistered.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from jobshadow import __version__
from jobshadow.datasets import engine as engines
from jobshadow.datasets import quality, writers
from jobshadow.datasets.canonical import STEP_FIELDS, step_row
from jobshadow.datasets.card import Contents, write_card
from jobshadow.datasets.frames import IMAGE_FORMATS, FrameJob
from jobshadow.datasets.model import SegmentData, Task
from jobshadow.datasets.reduce import Thresholds
from jobshadow.datasets.sources import GovernedSource, LocalSource, sessions
from jobshadow.datasets.trajectory import TaskThresholds, build_session
from jobshadow.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Callable

    from jobshadow.govern import Governance

log = logging.getLogger(__name__)
NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Labels of the dataset's columns in the lake, and the curated columns each is computed from.
COLUMN_LABELS: dict[str, tuple[list[str], list[str]]] = {
    "text": (["typed_text", "ai_prompt"], ["curated.events.char", "curated.events.prompt_char"]),
    "code": (["typed_text", "ai_prompt"], ["curated.events.char", "curated.events.prompt_char"]),
    "code_normalized": (["typed_text", "ai_prompt"], ["curated.events.char", "curated.events.prompt_char"]),
    "description": (["typed_text", "ai_prompt"], ["curated.events.char", "curated.events.prompt_char"]),
    "window_title": (["window_title"], ["curated.windows.title"]),
    "url": (["window_title"], ["curated.windows.title"]),
    "task_title": (["typed_text"], ["curated.markers.detail"]),
    "frame_seq": (["screen_content"], ["curated.frames.media_offset"]),
}
INPUT_EVENT_COLUMNS = {"action_type", "x", "y", "end_x", "end_y", "button", "scroll_dx", "scroll_dy", "keys",
                       "pre_move_trace"}


@dataclass
class BuildOptions:
    fmt: str
    out: Path
    purpose: str = "model_training"
    principal: str = "service:dataset-builder"
    name: str | None = None
    image_format: str = "jpeg"
    engine: str = "local"
    thresholds: Thresholds = field(default_factory=Thresholds)
    task_thresholds: TaskThresholds = field(default_factory=TaskThresholds)


@dataclass
class BuildReport:
    name: str
    out: str
    tasks: int
    steps: int
    images: int
    actions: dict[str, int]
    quality: dict[str, dict[str, int]]
    reduction_dropped: dict[str, int]
    sessions: int
    segments: int
    recorded_s: float
    files: list[str]
    dataset_table: str | None
    registry_id: str | None
    elapsed_s: float
    bytes_written: int
    frames_decoded: int


def _check(options: BuildOptions) -> str:
    if options.fmt not in writers.FORMATS:
        raise InputError(f"unknown format {options.fmt!r}; formats: {', '.join(writers.FORMATS)}")
    if options.image_format not in IMAGE_FORMATS:
        raise InputError(f"unknown image format {options.image_format!r}; formats: {', '.join(IMAGE_FORMATS)}")
    if options.engine not in engines.ENGINES:
        raise InputError(f"unknown engine {options.engine!r}; engines: {', '.join(engines.ENGINES)}")
    name = options.name or f"{options.fmt}_{datetime.now(UTC):%Y%m%d_%H%M%S}"
    if not NAME.match(name):
        raise InputError("dataset names are lower-case letters, digits and _ (start with a letter, ≤ 63)")
    if options.out.exists() and any(options.out.iterdir()):
        raise InputError(f"{options.out} is not empty; build into a new folder")
    from jobshadow.govern import registry

    # The card's label rule, enforced: the files' labels must all allow the purpose they are built for.
    labels = file_labels()
    if options.purpose not in registry().allowed_purposes(labels):
        raise InputError(f"refused: a dataset holds {', '.join(sorted(labels))}, and not every one of them may "
                         f"serve {options.purpose!r}")
    return name


def _recorded(segments: list[SegmentData]) -> float:
    total = 0.0
    for s in segments:
        times = [e.t for e in s.events] + [f.t for f in s.frames]
        if times:
            total += max(times) - min(times)
    return total


def build(source: GovernedSource | LocalSource, options: BuildOptions, gov: Governance | None = None,
          progress: Callable[[str, int, int], None] | None = None) -> BuildReport:
    """Build one dataset; see the module docstring."""
    started = time.perf_counter()
    name = _check(options)
    if gov is not None and f"datasets.{name}" in gov.labelled_tables():
        raise InputError(f"a dataset named {name!r} is already in the lake (datasets.{name}); choose another --name")
    segments = source.load()
    by_id = {s.segment_id: s for s in segments}
    tasks: list[Task] = []
    dropped: Counter[str] = Counter()
    grouped = sessions(segments)
    for _sid, segs in grouped.items():
        result = build_session(segs, options.thresholds, options.task_thresholds)
        tasks += result.tasks
        dropped.update(result.stats.dropped)
    tasks.sort(key=lambda t: (t.session_id, t.t_start, t.task_id))
    tasks, report = quality.filter_steps(tasks)
    # Frames: what each kept step shows, and both sides of every click.
    images: dict[str, set[int]] = defaultdict(set)
    prints: dict[str, set[int]] = defaultdict(set)
    for task in tasks:
        for step in task.steps:
            if step.observation.frame is not None:
                images[step.observation.frame.segment_id].add(step.observation.frame.frame_seq)
    for before, after in quality.effect_pairs(tasks):
        prints[before[0]].add(before[1])
        prints[after[0]].add(after[1])
    needed = sorted(set(images) | set(prints))
    jobs = [FrameJob(seg, by_id[seg].units(), sorted(images[seg]), sorted(prints[seg]), options.image_format)
            for seg in needed]
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress("frames", done, len(jobs))

    results = engines.run(jobs, options.engine, advance)
    for r in results:
        if r.error is not None:
            log.warning("segment %s: frames after a damaged one cannot be decoded (%s); steps showing them are "
                        "filtered as no_frame", r.segment_id, r.error)
    rendered = {(r.segment_id, seq): img for r in results for seq, img in r.images.items()}
    fingerprints = {(r.segment_id, seq): fp for r in results for seq, fp in r.fingerprints.items()}
    for task in tasks:
        for step in task.steps:
            frame = step.observation.frame
            if frame is not None:
                step.image = rendered.get((frame.segment_id, frame.frame_seq))
                if step.image is None:
                    step.observation.frame = None  # could not be decoded: filtered as no_frame below
    tasks, second = quality.filter_steps(tasks)
    report.merge(second)
    quality.flag_effects(tasks, fingerprints, report)

    # Files are written to a private staging folder beside --out and moved into place only once the
    # lake has accepted the dataset: a build the door refuses leaves nothing behind.
    final_out = options.out
    final_out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final_out.name}.building-", dir=final_out.parent))
    registry_id = None
    try:
        options = dataclasses.replace(options, out=staging)
        meta, written, dataset_table = _write(options, gov, source, name, tasks, segments, grouped, report, dropped)
        if gov is not None:
            registry_id = _register(gov, options, name, final_out, staging, dataset_table, meta, written, tasks)
        if final_out.exists():
            final_out.rmdir()  # checked empty in _check
        staging.rename(final_out)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if gov is not None and registry_id is not None:
            from jobshadow.govern import DatasetRegistry

            DatasetRegistry(gov).abandon(registry_id, f"the build failed before its files were in place "
                                                      f"({type(exc).__name__})")
        raise
    if gov is not None and registry_id is not None:
        from jobshadow.govern import DatasetRegistry

        DatasetRegistry(gov).activate(registry_id)
    options = dataclasses.replace(options, out=final_out)
    files = meta["files"]
    actions = Counter(s.action.type for t in tasks for s in t.steps)
    size = sum(p.stat().st_size for p in final_out.rglob("*") if p.is_file())
    return BuildReport(name, str(final_out), len(tasks), sum(actions.values()),
                       sum(1 for t in tasks for s in t.steps if s.image is not None), dict(sorted(actions.items())),
                       report.as_json(), dict(dropped), len(grouped), len(segments), meta["recorded_s"],
                       files, dataset_table, registry_id, time.perf_counter() - started, size,
                       sum(r.decoded for r in results))


def _write(options: BuildOptions, gov: Governance | None, source: GovernedSource | LocalSource, name: str,
           tasks: list[Task], segments: list[SegmentData], grouped: dict[str, list[SegmentData]],
           report: quality.QualityReport, dropped: Counter[str]
           ) -> tuple[dict[str, Any], writers.Written, str | None]:
    """Dataset files, card and manifest into ``options.out``; the lake table when governed."""
    written = writers.write(options.fmt, tasks, options.out, options.image_format)
    dataset_table = None
    inputs = list(getattr(source, "inputs", []))
    if gov is not None:
        dataset_table = register(gov, options, name, tasks)
    kept = sorted({seg for t in tasks for seg in task_segments(t)})
    by_id = {s.segment_id: s for s in segments}
    meta: dict[str, Any] = {
            "name": name, "format": options.fmt, "purpose": options.purpose, "principal": options.principal,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"), "engine": options.engine,
            "version": __version__, "image_format": options.image_format,
            "source": "the governed lake (curated tables, through the governance door)" if gov is not None
            else "the contributor's own local segments", "dataset_table": dataset_table,
            "registered": gov is not None, "inputs": [i for i in inputs if i.startswith("curated.")],
            "segments": kept, "sessions": len({by_id[s].session_id for s in kept if s in by_id}),
            "recorded_s": _recorded([by_id[s] for s in kept if s in by_id]),
            # Per segment, so a rewrite after an erasure can recount what is left.
            "recording": {s: {"session": by_id[s].session_id, "seconds": _recorded([by_id[s]])}
                          for s in kept if s in by_id},
            "labels": _labels(), "quality": report.as_json(), "reduction_dropped": dict(dropped),
            "thresholds": vars(options.thresholds), "task_thresholds": vars(options.task_thresholds),
            "files": [*written.files, "README.md", "manifest.json"], "rewrites": []}
    write_card(options.out, meta, Contents.of(tasks))
    return meta, written, dataset_table


def task_segments(task: Task) -> set[str]:
    """Every segment a task's rows come from: its actions' raw events and its frames."""
    out = set(task.segments)
    out |= {s.observation.frame.segment_id for s in task.steps if s.observation.frame is not None}
    return out


def _register(gov: Governance, options: BuildOptions, name: str, final_out: Path, staging: Path,
              dataset_table: str | None, meta: dict[str, Any], written: writers.Written, tasks: list[Task]) -> str:
    """The build in the governed dataset registry: where it goes, and whose data each file holds."""
    from jobshadow.govern import BuildRecord, DatasetRegistry

    record = BuildRecord(
        name=name, location=final_out.resolve(), fmt=options.fmt, purpose=options.purpose,
        principal=options.principal, lake_table=dataset_table, labels=[lab["name"] for lab in meta["labels"]],
        files={f: frozenset(ids) for f, ids in written.holdings.items()},
        tasks={t.task_id: frozenset(task_segments(t)) for t in tasks}, shared=("README.md", "manifest.json"))
    return DatasetRegistry(gov).register(record, staging=staging)


def file_labels() -> set[str]:
    """The labels of what a dataset's files hold (every format holds the same kinds of data).

    Each step column carries the label of the curated data it is computed from, the frames are
    screen content and task titles are typed text. No column names a person, so
    ``subject_identity`` (which may not serve model training) is not among them.
    """
    names = {lab for col, (labs, _src) in COLUMN_LABELS.items() if col != "task_title" for lab in labs}
    names |= {"input_events", "device_meta", "screen_content", "typed_text"}
    return names


def _labels() -> list[dict[str, Any]]:
    from jobshadow.govern import registry

    reg = registry()
    return [{"name": n, "purposes": sorted(reg.labels[n].purposes), "retention_days": reg.labels[n].retention_days}
            for n in sorted(file_labels())]


def register(gov: Governance, options: BuildOptions, name: str, tasks: list[Task]) -> str:
    """Write the dataset's steps (frames by reference) to ``datasets.<name>`` through the door.

    It is written as ``options.principal`` for ``options.purpose``: that needs ``export`` on every
    input table for the purpose, the columns carry their sources' labels (typed text stays
    sealed per person) and the table inherits every input label.
    """
    from jobshadow.datasets.sources import INPUT_TABLES

    table = f"datasets.{name}"
    data = lake_rows(tasks)
    labels: dict[str, list[str]] = {}
    sources: dict[str, list[str]] = {}
    for col in data.column_names:
        if col in COLUMN_LABELS:
            labels[col], sources[col] = list(COLUMN_LABELS[col][0]), list(COLUMN_LABELS[col][1])
        elif col in INPUT_EVENT_COLUMNS:
            labels[col], sources[col] = ["input_events"], ["curated.events.kind"]
        else:
            labels[col], sources[col] = ["device_meta"], []
    gov.write_derived(options.principal, options.purpose, table, data, inputs=list(INPUT_TABLES),
                      column_labels=labels, column_sources=sources)
    return table


def lake_rows(tasks: list[Task]) -> pa.Table:
    rows = []
    per_segment: Counter[str] = Counter()
    for task in tasks:
        for step in task.steps:
            row = step_row(task, step)
            a = step.action
            segment = a.span[0] if a.span else (step.observation.frame.segment_id if step.observation.frame else None)
            if segment is None:
                continue
            row["segment_id"] = segment
            row["seq"] = per_segment[segment]
            per_segment[segment] += 1
            row["task_title"] = task.title
            rows.append(row)
    fields = [pa.field(n, t) for n, t, _ in STEP_FIELDS] + [pa.field("segment_id", pa.string()),
                                                           pa.field("seq", pa.int32()),
                                                           pa.field("task_title", pa.string())]
    return pa.Table.from_pylist(rows, schema=pa.schema(fields))
