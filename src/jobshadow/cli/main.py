"""The ``jobshadow`` command: global options and error handling only; commands live beside it.

Every failure jobshadow expects becomes a one-line ``Error: …`` on stderr and exit status 1
(usage errors: 2). Settings are loaded lazily, so ``--help`` works with a broken config.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from jobshadow import __version__
from jobshadow.config import Settings, load_settings
from jobshadow.errors import JobshadowError
from jobshadow.home import Home


class AppContext:
    def __init__(self, config: Path | None) -> None:
        self._config = config
        self._settings: Settings | None = None

    @property
    def config(self) -> Path | None:
        """The settings file given with --config (or JOBSHADOW_CONFIG), if any."""
        return self._config

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self._config)
        return self._settings

    @property
    def home(self) -> Home:
        return Home(self.settings.home)


class JobshadowGroup(click.Group):
    """Turns errors into a one-line message and a non-zero exit.

    Expected failures (JobshadowError) print their message. Anything else is a bug: one line
    naming it, and the traceback with ``-v``.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except JobshadowError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            raise click.Abort() from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except BrokenPipeError:
            # The reader went away (`… | head`): not an error worth a message.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(0) from None
        except Exception as exc:
            if logging.getLogger().isEnabledFor(logging.INFO):
                raise
            raise click.ClickException(
                f"internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)") from None


pass_app = click.make_pass_decorator(AppContext)


@click.group(cls=JobshadowGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config", type=click.Path(path_type=Path, dir_okay=False),
              envvar="JOBSHADOW_CONFIG", help="TOML settings file (env: JOBSHADOW_CONFIG).")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (never content).")
@click.version_option(__version__, prog_name="jobshadow")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, verbose: int) -> None:
    """jobshadow: record how people do computer tasks, privately, and turn it into training data.

    State lives in JOBSHADOW_HOME (default: $XDG_DATA_HOME/jobshadow).
    """
    logging.basicConfig(
        level=logging.WARNING - 10 * min(verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    ctx.obj = AppContext(config)


def _register() -> None:
    from jobshadow.cli import (
        admin,
        audit,
        config_cmd,
        consent,
        dataset,
        device,
        govern,
        lake,
        person,
        record,
        redact,
        segments,
        server,
        subject,
        task,
    )

    for module in (record, segments, consent, redact, config_cmd, task, device, server, person, admin, lake, govern,
                   audit, subject, dataset):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="jobshadow")


if __name__ == "__main__":
    main()
