"""``jobshadow redact text``: the device's secret/PII detector on stdin, for checks and scripts."""

from __future__ import annotations

import json
import sys

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


COMMANDS = [redact]
