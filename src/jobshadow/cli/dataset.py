"""``jobshadow dataset build``: training-ready trajectories from the governed lake or your own segments."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import click

from jobshadow.cli._util import emit_json
from jobshadow.cli.main import AppContext, pass_app
from jobshadow.errors import JobshadowError


@click.group()
def dataset() -> None:
    """Build datasets of tasks and steps (HF parquet, AgentNet JSONL, OSWorld pyautogui)."""


@dataset.command("build")
@click.option("--format", "fmt", type=click.Choice(["hf", "agentnet", "osworld"]), required=True,
              help="hf: Hugging Face parquet with an image column; agentnet: JSONL + images/; "
                   "osworld: pyautogui code with normalised coordinates.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="A new (or empty) folder for the dataset; created 0700.")
@click.option("--purpose", default="model_training", show_default=True, help="Purpose the dataset serves.")
@click.option("--name", help="Dataset name (lower-case, digits, _); its lake table is datasets.<name>.")
@click.option("--from-segments", "from_segments", type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="Build from your own local segments in this folder (sealed spool files or decrypted .mcap) "
                   "instead of the governed lake; such a dataset is not in the server's registry.")
@click.option("--engine", type=click.Choice(["local", "ray"]), help="Where frames are decoded (default: config).")
@click.option("--image-format", type=click.Choice(["jpeg", "png"]), help="Frame images (default: config).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_app
def build_cmd(app: AppContext, fmt: str, out: Path, purpose: str, name: str | None,
              from_segments: Path | None, engine: str | None, image_format: str | None, as_json: bool) -> None:
    """Reduce recordings to actions, pair each with the frame before it, split tasks, filter, export.

    From the governed lake (default) this is a signed request by the logged-in researcher: the
    server builds it, reading through the governance door as you for PURPOSE (you need read and
    export grants on the curated tables), into OUT on the server host (this machine when the
    server runs here), writes it to the lake as a derived table that inherits every input label,
    and registers the build (location, format, purpose, builder, and whose data each file holds:
    the files name no one) so that erasure requests reach it.
    """
    progress = _progress() if not as_json and sys.stderr.isatty() else None
    if from_segments is not None:
        from jobshadow.datasets.build import BuildOptions, build
        from jobshadow.datasets.reduce import Thresholds
        from jobshadow.datasets.sources import LocalSource
        from jobshadow.datasets.trajectory import TaskThresholds
        from jobshadow.spool.keys import load_spool_key

        s = app.settings.datasets
        options = BuildOptions(
            fmt=fmt, out=out, purpose=purpose, name=name, image_format=image_format or s.image_format,
            engine=engine or s.engine, thresholds=Thresholds(write_gap_s=float(s.write_gap)),
            task_thresholds=TaskThresholds(idle_gap_s=float(s.idle_gap), app_switch_min_s=float(s.app_switch_min),
                                           wait_gap_s=float(s.wait_gap)))
        try:
            key = load_spool_key(app.home, app.settings.protect.keyring, create=False)
        except JobshadowError:  # no key on this machine: only plain .mcap files can be read
            key = None
        report = asdict(build(LocalSource(from_segments, key), options, progress=progress))
    else:
        from jobshadow.cli._door import call

        report = call(app, "dataset.build", fmt=fmt, out=str(out.resolve()), purpose=purpose, name=name,
                      engine=engine, image_format=image_format)
    if as_json:
        emit_json(report)
        return
    click.echo(f"dataset {report['name']}: {report['tasks']} task(s), {report['steps']} steps, {report['images']} "
               f"images from {report['segments']} segment(s) in {report['elapsed_s']:.1f} s → {report['out']}")
    removed = {**report["reduction_dropped"], **report["quality"]["removed"]}
    if any(removed.values()):
        click.echo("removed: " + ", ".join(f"{k} {v}" for k, v in sorted(removed.items()) if v))
    if report["dataset_table"]:
        click.echo(f"registered in the lake as {report['dataset_table']}; card: {Path(report['out']) / 'README.md'}")


@dataset.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output, with each dataset's history.")
@pass_app
def list_cmd(app: AppContext, as_json: bool) -> None:
    """Datasets built from the governed lake: where they are, format, purpose, builder, state.

    State is active, withdrawn (after an erasure that could not rewrite it) or unreachable (an
    erasure could not get at its folder). Whose data a dataset holds stays in the registry.
    """
    from jobshadow.cli._door import call, rows_table

    entries = call(app, "dataset.list")
    if as_json:
        emit_json(entries)
        return
    rows_table([{"name": e["name"], "state": e["state"], "format": e["format"], "purpose": e["purpose"],
                 "built_by": e["built_by"], "built_at": e["built_at"],
                 "rewrites": sum(h.get("action") == "rewritten" for h in e["history"]), "location": e["location"]}
                for e in entries])


def _progress() -> Callable[[str, int, int], None]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(TextColumn("decoding frames"), BarColumn(), MofNCompleteColumn(), console=Console(stderr=True),
                   transient=True)
    task = None

    def update(_stage: str, done: int, total: int) -> None:
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task("frames", total=total)
        bar.update(task, completed=done)
        if done >= total:
            bar.stop()

    return update


COMMANDS = [dataset]
