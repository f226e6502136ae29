"""``jobshadow task start|end``: contributor markers that delimit a task in the recording."""

from __future__ import annotations

import click

from jobshadow.agent.control import send_command
from jobshadow.cli.main import AppContext, pass_app


@click.group()
def task() -> None:
    """Mark where a task starts and ends (stored as events in the recording)."""


@task.command("start")
@click.argument("title", required=False, default="")
@pass_app
def start(app: AppContext, title: str) -> None:
    """Mark the start of a task, optionally with a short description."""
    send_command(app.home.control_socket, "task_start", {"title": title})
    click.echo("task started")


@task.command("end")
@pass_app
def end(app: AppContext) -> None:
    """Mark the end of the current task."""
    send_command(app.home.control_socket, "task_end")
    click.echo("task ended")


COMMANDS = [task]
