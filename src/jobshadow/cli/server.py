"""``jobshadow server start``: the collector and control plane on uvicorn."""

from __future__ import annotations

import gc
import json
import logging
import resource
import sys

import click

from jobshadow.cli.main import AppContext, pass_app


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


@click.group()
def server() -> None:
    """Run the collector: enrolment, device configuration, resumable upload, landing."""


@server.command("start")
@click.option("--host", help="Address to bind (default from config: 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default from config: 8787).")
@pass_app
def start(app: AppContext, host: str | None, port: int | None) -> None:
    """Serve in the foreground until Ctrl-C or SIGTERM."""
    import uvicorn

    from jobshadow.govern.http import QueryAPI
    from jobshadow.ingest.app import create_app

    settings = app.settings
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    bind_host = host or settings.server.host
    bind_port = port or settings.server.port
    fds, connections, in_flight = connection_limits()
    # The governed query API shares the collector's process and port; it opens the lake lazily.
    query_api = QueryAPI(settings)
    asgi = create_app(settings, max_in_flight=in_flight, extra_routes=query_api.routes(),
                      on_shutdown=[query_api.close])
    # The service's long-lived objects (settings, tables, keys, compiled SQL) need no cycle
    # collection; and a collection every 700 allocations costs several percent of a busy collector.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    click.echo(json.dumps({"event": "listening", "url": f"http://{bind_host}:{bind_port}", "max_open_files": fds,
                           "max_connections": connections, "max_requests_in_flight": in_flight}), err=True)
    uvicorn.run(asgi, host=bind_host, port=bind_port, log_config=None, access_log=False,
                timeout_graceful_shutdown=5, limit_concurrency=connections, backlog=4096)


COMMANDS = [server]
