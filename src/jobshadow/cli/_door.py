"""What the governance CLI commands share: the door with the kill switch wired in, output helpers."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from jobshadow.cli.main import AppContext

if TYPE_CHECKING:  # the lake stack loads only when one of these commands runs
    from jobshadow.govern.door import Finding, Governance


def me(by: str | None) -> str:
    return by or f"person:{getpass.getuser()}"


@contextmanager
def governance(app: AppContext) -> Iterator[Governance]:
    from jobshadow.govern.door import Governance

    settings = app.settings

    def kill_switch(findings: list[Finding]) -> None:
        if not settings.govern.pause_on_findings:
            return
        from jobshadow.ingest.service import CollectorService

        svc = CollectorService(settings)
        try:
            if svc.programme()["state"] != "paused":
                kinds = ", ".join(sorted({f.kind for f in findings}))
                svc.pause_programme(f"exposure scan: {len(findings)} finding(s) ({kinds})", by="service:exposure-scan")
                click.echo("the exposure scan paused the programme (kill switch); fix the findings, then "
                           "`jobshadow admin resume-programme`", err=True)
        finally:
            svc.close()

    gov = Governance(settings, on_exposure=kill_switch)
    try:
        yield gov
    finally:
        gov.close()


def print_findings(findings: list[Finding]) -> None:
    for f in findings:
        click.echo(f"finding [{f.kind}] {f.resource}: {f.message}", err=True)


def subject_of(gov: Governance, app: AppContext, who: str) -> str:
    """A subject id from ``s_…``, a person id, or an e-mail known to the control plane."""
    from jobshadow.govern.rights import resolve_subject

    if "@" in who:
        from jobshadow.ingest.service import CollectorService

        svc = CollectorService(app.settings)
        try:
            who = svc.person_id_of(who)
        finally:
            svc.close()
    return resolve_subject(gov, who)


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
