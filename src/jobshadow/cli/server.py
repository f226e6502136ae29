"""``jobshadow server start``: the collector and control plane on uvicorn."""

from __future__ import annotations

import json
import os
import subprocess
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
    door_process,
    metrics_dir,
    prepare_state,
    worker_count,
)
from jobshadow.config import settings_dict


@click.group()
def server() -> None:
    """The server host: the collector, the governance door, and their first administrator.

    These commands open the server's state directly and run only on the server host; every
    other administrative command is a signed request by a logged-in person.
    """


@server.command("init")
@click.option("--admin", "admin_email", required=True, help="E-mail of the first administrator.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def init(app: AppContext, admin_email: str, as_json: bool) -> None:
    """Make the first administrator's one-time login code (once; later ones come from `admin invite`)."""
    from datetime import UTC, datetime

    from jobshadow.cli._util import emit_json
    from jobshadow.errors import InputError, RequestRejected
    from jobshadow.govern import init_admin

    try:
        code, expires = init_admin(app.settings, admin_email)
    except RequestRejected as exc:
        raise InputError(str(exc)) from None
    when = datetime.fromtimestamp(expires, UTC).isoformat(timespec="seconds")
    if as_json:
        emit_json({"code": code, "expires": when, "admin": admin_email})
    else:
        click.echo(f"{code}  (the first administrator, {admin_email}; valid until {when}; use once:")
        click.echo(f"  jobshadow login --server http://{app.settings.server.door_host}:{app.settings.server.door_port}"
                   f" --code {code})")


@server.command("door")
@click.option("--host", help="Address to bind (default from config: 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default from config: 8788).")
@click.option("--supervised", is_flag=True, hidden=True)
@pass_app
def door(app: AppContext, host: str | None, port: int | None, supervised: bool) -> None:
    """Serve the governance door in the foreground: logins, signed requests, governed queries.

    The one process that holds the keys to curated data, the pseudonym key and the audit signing
    key; `server start` runs it beside the collector (which holds none of them).
    """
    import uvicorn

    from jobshadow.api.app import create_door_app
    from jobshadow.cli.serving import door_settings, supervise

    if supervised:
        supervise()
    settings = door_settings() or app.settings
    configure_logging()
    bind_host, bind_port = host or settings.server.door_host, port or settings.server.door_port
    click.echo(json.dumps({"event": "listening", "door": f"http://{bind_host}:{bind_port}"}), err=True)
    uvicorn.run(create_door_app(settings), host=bind_host, port=bind_port, log_config=None, access_log=False,
                timeout_graceful_shutdown=5)


@server.command("start")
@click.option("--host", help="Address to bind (default from config: 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default from config: 8787).")
@click.option("--workers", type=click.IntRange(1, 64),
              help="Collector processes sharing the port (default from config: one per CPU core).")
@click.option("--no-door", is_flag=True, help="Run the collector only (the door runs elsewhere: `server door`).")
@pass_app
def start(app: AppContext, host: str | None, port: int | None, workers: int | None, no_door: bool) -> None:
    """Serve the collector, and the governance door beside it, in the foreground until Ctrl-C or SIGTERM.

    Several collector processes share the port; each verifies and stores uploads, and one at a
    time (any of them, taking over if it dies) commits landed rows to the landing table. The
    governance door is a process of its own ([server] door_port): the only one holding the keys
    that open curated data, the pseudonym key and the audit signing key.
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
    prepare_state(settings)
    door = door_process(settings, app.config) if settings.server.door_port and not no_door else None
    try:
        if n == 1:
            uvicorn.run(build_app(settings, in_flight), **options)
            return
        os.environ.update({ENV_SETTINGS: json.dumps(settings_dict(settings)), ENV_IN_FLIGHT: str(in_flight),
                           ENV_SUPERVISOR: str(os.getpid()), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir(settings))})
        uvicorn.run("jobshadow.cli.serving:worker_app", factory=True, workers=n, **options)
    finally:
        if door is not None:
            door.terminate()
            try:
                door.wait(10)
            except subprocess.TimeoutExpired:
                door.kill()


COMMANDS = [server]
