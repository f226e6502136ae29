"""Where the heavy per-segment work (decoding frames, compressing images) runs: here, or on Ray.

``local`` runs the jobs one after another in this process. ``ray`` hands them to Ray Data
(``ray.data.from_items(...).map(...)``) on a local Ray started on demand, or on the cluster
``RAY_ADDRESS`` names. Both run the same ``frames.render`` on the same inputs and results are
put back in job order, so both engines produce byte-identical datasets.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from jobshadow.datasets.frames import FrameJob, FrameResult, render
from jobshadow.errors import InputError

ENGINES = ("local", "ray")


def _render_row(row: dict[str, Any]) -> dict[str, Any]:
    return {"index": row["index"], "result": render(row["job"])}


def run(jobs: list[FrameJob], engine: str = "local", progress: Callable[[int], None] | None = None
        ) -> list[FrameResult]:
    if engine == "local":
        out = []
        for job in jobs:
            out.append(render(job))
            if progress is not None:
                progress(1)
        return out
    if engine != "ray":
        raise InputError(f"unknown engine {engine!r}; engines: {', '.join(ENGINES)}")
    if not jobs:
        return []
    try:
        import ray
    except ImportError:
        raise InputError("the ray engine needs Ray (pip install 'ray[data]'); or use --engine local") from None
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False,
                     ignore_reinit_error=True)
        else:
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False,
                     configure_logging=False, ignore_reinit_error=True)
    items = [{"index": i, "job": job} for i, job in enumerate(jobs)]
    rows = ray.data.from_items(items, override_num_blocks=len(items)).map(_render_row).take_all()
    if progress is not None:
        progress(len(rows))
    return [r["result"] for r in sorted(rows, key=lambda r: r["index"])]
