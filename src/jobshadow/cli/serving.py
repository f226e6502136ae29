"""How ``jobshadow server start`` composes and runs the collector's processes (server).

Kept apart from the click command so that worker processes, which uvicorn spawns and which
import ``worker_app`` by name, load the collector without the whole command-line interface.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from jobshadow.config import Settings, settings_dict, settings_from_dict


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line; messages never carry request content (see ingest.app)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
                                      "level": record.levelname, "logger": record.name,
                                      "message": record.getMessage()}
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exception"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(out)


# File descriptors the collector needs besides its HTTP connections: SQLite (database, WAL and
# shared-memory file per pooled connection, control plane and Iceberg catalog), a staged upload and
# a blob being stored per worker thread, Iceberg metadata and data files, the audit log, the event
# loop's own descriptors and the log. About 350 at the default pool sizes; 1024 leaves room.
RESERVED_FDS = 1024
# Requests held at once stop this short of the connection limit, so that a device over the limit
# gets the collector's explicit "overloaded" answer (with Retry-After) rather than uvicorn's bare one.
REFUSAL_MARGIN = 64


def connection_limits() -> tuple[int, int, int]:
    """(descriptor limit, connections uvicorn admits, requests the collector holds at once).

    Every HTTP connection, idle long poll included, holds a file descriptor; past the process's
    ``RLIMIT_NOFILE`` ``accept`` fails and the database and staged uploads cannot open files
    either. The soft limit is raised to the hard limit, and connections are capped below it.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    fds = min(soft if soft != resource.RLIM_INFINITY else 1 << 20, 1 << 20)
    connections = max(2 * REFUSAL_MARGIN, fds - RESERVED_FDS)
    return fds, connections, connections - REFUSAL_MARGIN


# What the supervisor hands its worker processes (they are spawned, not forked).
ENV_SETTINGS = "JOBSHADOW_SERVER_SETTINGS"
ENV_IN_FLIGHT = "JOBSHADOW_SERVER_IN_FLIGHT"
ENV_SUPERVISOR = "JOBSHADOW_SERVER_SUPERVISOR"


def worker_count(configured: int) -> int:
    """``server.workers``, with 0 meaning one process per CPU core this process may use."""
    if configured > 0:
        return configured
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 16))


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)


def build_app(settings: Settings, in_flight: int) -> Any:
    """The collector as ``server start`` serves it (the governance door runs in its own process)."""
    from jobshadow.ingest.app import create_app

    asgi = create_app(settings, max_in_flight=in_flight)
    # The service's long-lived objects (settings, tables, keys, compiled SQL) need no cycle
    # collection; and a collection every 700 allocations costs several percent of a busy collector.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    return asgi


def prepare_state(settings: Settings) -> None:
    """Create the control-plane tables, the landing key and table before any worker starts.

    Workers start at the same moment; on a fresh home each would otherwise create tables and
    first rows side by side (and lose the race with a constraint error).
    """
    from jobshadow.ingest.service import CollectorService

    svc = CollectorService(settings)
    try:
        _ = svc.landing.public_key
        _ = svc.landing.table  # the Iceberg namespace and landing table, created once
    finally:
        svc.close()


def door_process(settings: Settings, config: Path | None) -> subprocess.Popen[bytes]:
    """Start the governance door (``jobshadow server door``) as a child that dies with this process."""
    args = [sys.executable, "-m", "jobshadow"] + (["--config", str(config)] if config else []) + [
        "server", "door", "--supervised"]
    env = {**os.environ, ENV_SUPERVISOR: str(os.getpid()), ENV_SETTINGS: json.dumps(settings_dict(settings))}
    return subprocess.Popen(args, env=env)


def door_settings() -> Settings | None:
    """The settings ``door_process`` handed down (so the door sees exactly the collector's)."""
    raw = os.environ.get(ENV_SETTINGS)
    return settings_from_dict(json.loads(raw)) if raw else None


def supervise() -> None:
    """In a child of ``server start``: die with it (see ``_die_with_supervisor``)."""
    _die_with_supervisor()


def worker_app() -> Any:
    """Entry point of one worker process (``uvicorn`` factory), with the supervisor's settings."""
    _die_with_supervisor()
    configure_logging()
    settings = settings_from_dict(json.loads(os.environ[ENV_SETTINGS]))
    return build_app(settings, int(os.environ[ENV_IN_FLIGHT]))


def _die_with_supervisor() -> None:
    """A worker must not outlive its supervisor: orphans would keep the port and the lease.

    On Linux the kernel kills the worker when the supervisor dies, however it dies (a killed
    server is a crash, and its workers crash with it); elsewhere a watchdog thread notices.
    """
    supervisor = int(os.environ.get(ENV_SUPERVISOR, "0"))
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGKILL, 0, 0, 0) == 0:  # PR_SET_PDEATHSIG
            if os.getppid() != supervisor:  # it died before the request took effect
                os._exit(1)
            return
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == supervisor:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()


def metrics_dir(settings: Settings) -> Path:
    """A fresh folder where the workers' Prometheus metrics meet (``/metrics`` sums them)."""
    path = settings.home / "server" / "metrics"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o700, parents=True)
    return path
