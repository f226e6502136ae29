"""``jobshadow server start``: the collector and control plane on uvicorn."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from jobshadow.cli.main import AppContext, pass_app
from jobshadow.cli.serving import (
    ENV_IN_FLIGHT,
    ENV_SETTINGS,
    ENV_SUPERVISOR,
    build_app,
    configure_logging,
    connection_limits,
    metrics_dir,
    prepare_state,
    worker_count,
)
from jobshadow.config import settings_dict


@click.group()
def server() -> None:
    """Run the collector: enrolment, device configuration, resumable upload, landing."""


@server.command("start")
@click.option("--host", help="Address to bind (default from config: 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default from config: 8787).")
@click.option("--workers", type=click.IntRange(1, 64),
              help="Collector processes sharing the port (default from config: one per CPU core).")
@pass_app
def start(app: AppContext, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve in the foreground until Ctrl-C or SIGTERM.

    Several worker processes share the port; each verifies and stores uploads, and one at a
    time (any of them, taking over if it dies) commits landed rows to the landing table.
    """
    import uvicorn

    settings = app.settings
    configure_logging()
    bind_host = host or settings.server.host
    bind_port = port or settings.server.port
    n = workers or worker_count(settings.server.workers)
    fds, connections, in_flight = connection_limits()  # raised here, inherited by the workers
    click.echo(json.dumps({"event": "listening", "url": f"http://{bind_host}:{bind_port}", "workers": n,
                           "max_open_files": fds, "max_connections": connections,
                           "max_requests_in_flight": in_flight}), err=True)
    options: dict[str, Any] = dict(host=bind_host, port=bind_port, log_config=None, access_log=False,
                                   timeout_graceful_shutdown=5, limit_concurrency=connections, backlog=4096)
    if n == 1:
        uvicorn.run(build_app(settings, in_flight), **options)
        return
    prepare_state(settings)
    os.environ.update({ENV_SETTINGS: json.dumps(settings_dict(settings)), ENV_IN_FLIGHT: str(in_flight),
                       ENV_SUPERVISOR: str(os.getpid()), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir(settings))})
    uvicorn.run("jobshadow.cli.serving:worker_app", factory=True, workers=n, **options)


COMMANDS = [server]
