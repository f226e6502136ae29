"""What the governance commands share: the logged-in person's signed client, output helpers.

Every administrative, governance, audit, subject-rights, query, curation and dataset command is a
request to the governance door signed by the person logged in under ``JOBSHADOW_HOME``
(``jobshadow login``); none takes an identity as a flag. A refusal is the command's one-line error.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from jobshadow.cli.main import AppContext
from jobshadow.errors import InputError, RequestRejected

if TYPE_CHECKING:
    from jobshadow.api.client import DoorClient


def door(app: AppContext) -> DoorClient:
    """The signed client of the person logged in here (an error naming `jobshadow login` if nobody is)."""
    from jobshadow.api.client import DoorClient, require_person

    return DoorClient(require_person(app.home))


def call(app: AppContext, operation: str, **args: Any) -> Any:
    """Run one operation at the door; a refusal becomes ``Error: refused: …`` (exit 1)."""
    try:
        return door(app).call(operation, **args)
    except RequestRejected as exc:
        raise InputError(f"refused: {exc}" if exc.status in (401, 403) else str(exc)) from None


def print_findings(findings: list[dict[str, Any]]) -> None:
    for f in findings:
        click.echo(textwrap.fill(f"finding [{f['kind']}] {f['resource']}: {f['message']}", 80,
                                 subsequent_indent="  ", break_on_hyphens=False), err=True)


def after(findings: list[dict[str, Any]]) -> None:
    """A change the exposure scan objects to was made, and paused the programme: say so, exit 1."""
    if findings:
        print_findings(findings)
        raise InputError(f"done, but the exposure scan has {len(findings)} finding(s); the programme is paused "
                         "until a reviewer resumes it")


def rows_table(rows: list[dict[str, Any]]) -> None:
    """Rows as a table: rich on a terminal, plain aligned columns (never truncated) otherwise."""
    if not rows:
        click.echo("(no rows)")
        return
    cells = [[("" if v is None else str(v)) for v in r.values()] for r in rows]
    names = list(rows[0].keys())
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*names)
        for c in table.columns:
            c.overflow = "fold"
        for row in cells:
            table.add_row(*row)
        Console().print(table)
        return
    widths = [max(len(n), *(len(row[i]) for row in cells)) for i, n in enumerate(names)]
    click.echo("  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def fit(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters (cut in the middle, where names differ least)."""
    if len(text) <= width:
        return text
    keep = width - 1
    return text[: (keep + 1) // 2] + "…" + text[len(text) - keep // 2:]


def narrow_table(rows: Sequence[Sequence[str]], widths: tuple[int, ...], header: Sequence[str]) -> None:
    """Fixed columns that fit 80 characters; the last one takes what is left."""
    for row in [header, *rows]:
        cells = [fit(v, w).ljust(w) for v, w in zip(row[:-1], widths, strict=False)]
        click.echo(" ".join([*cells, fit(row[-1], 80 - sum(widths) - len(widths))]).rstrip())
