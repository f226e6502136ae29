"""``jobshadow redact text`` (the secret/PII detector on stdin) and ``jobshadow redact frames`` (screen
redaction of image files): the redaction engines for checks and scripts. Wiring only."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from jobshadow.errors import InputError

MAX_INPUT = 64 * 1024 * 1024


@click.group()
def redact() -> None:
    """Run jobshadow's redaction engine yourself."""


@redact.command("text")
def text() -> None:
    """Read text on stdin; print {"text": redacted, "findings": [{start, end, kind}]} (offsets into the input)."""
    from jobshadow.sensitive import redact as run

    raw = sys.stdin.buffer.read(MAX_INPUT + 1)
    if len(raw) > MAX_INPUT:
        raise InputError(f"input larger than {MAX_INPUT // (1024 * 1024)} MiB; split it")
    try:
        data = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"input is not UTF-8 (byte {exc.start})") from None
    out, findings = run(data)
    sys.stdout.write(json.dumps({
        "text": out,
        "findings": [{"start": f.start, "end": f.end, "kind": f.kind} for f in findings],
    }, ensure_ascii=False) + "\n")


@redact.command("frames")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Directory for the redacted PNGs (created 0700; files 0600; not an input's directory).")
@click.option("--json", "as_json", is_flag=True, help="Print the findings and timing as JSON.")
def frames(images: tuple[Path, ...], out_dir: Path, as_json: bool) -> None:
    """Fill secrets and personal data in screen images (PNG/JPEG) read by OCR.

    Images are redacted in the order given, as one stream: consecutive frames of a recording are
    read only where they changed. Each is written to --out as a PNG of the same name. A frame
    whose redaction fails is not written, is reported, and the exit status is 1. With --json:
    {"frames": [{"file", "findings": [{"kind", "box": [x, y, w, h]}]}], "seconds_per_frame"}.
    """
    from jobshadow.redact.files import redact_files

    paths = list(images)
    if len(paths) > 1 and sys.stderr.isatty() and not as_json:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(TextColumn("redacting frames"), BarColumn(), MofNCompleteColumn(), transient=True,
                      console=Console(stderr=True)) as bar:
            task = bar.add_task("frames", total=len(paths))
            report = redact_files(paths, out_dir, progress=lambda done, _total: bar.update(task, completed=done))
    else:
        report = redact_files(paths, out_dir)
    if as_json:
        sys.stdout.write(json.dumps(report.as_json()) + "\n")
    else:
        for o in report.outcomes:
            if not o.result.failed:
                kinds = sorted({f.kind for f in o.result.findings})
                detail = f" ({', '.join(kinds)})" if kinds else ""
                click.echo(f"{o.source.name}: {len(o.result.findings)} filled{detail}")
    for o in report.failed:
        click.echo(f"{o.source.name}: not written: {o.result.reason}", err=True)
    if report.failed:
        raise SystemExit(1)


COMMANDS = [redact]
