"""``jobshadow server start``: the collector and control plane on uvicorn."""

from __future__ import annotations

import json
import logging
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

    from jobshadow.ingest.app import create_app

    settings = app.settings
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    bind_host = host or settings.server.host
    bind_port = port or settings.server.port
    click.echo(json.dumps({"event": "listening", "url": f"http://{bind_host}:{bind_port}"}), err=True)
    uvicorn.run(create_app(settings), host=bind_host, port=bind_port, log_config=None, access_log=False,
                timeout_graceful_shutdown=5, limit_concurrency=2000, backlog=2048)


COMMANDS = [server]
