"""``jobshadow audit witness``: run a witness of the audit log (the witness's own machine).

A witness is run by someone other than the log's operator (the DPO, the works council), with its
own key and state directory; it needs none of the server's state, only the log's verifier key
(``jobshadow audit key`` on the server). The logic is in ``jobshadow.govern.audit.witness``.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any

import click

from jobshadow.cli._util import emit_json


@click.group()
def witness() -> None:
    """A witness: co-signs audit checkpoints only if they extend what it signed before."""


@witness.command("init")
@click.option("--state", "state_dir", type=click.Path(path_type=Path), required=True,
              help="The witness's own state directory (created; 0700).")
@click.option("--name", required=True, help="The witness's name, e.g. works-council.example/audit.")
@click.option("--log-key", required=True, help="The log's verifier key, from `jobshadow audit key`.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def witness_init(state_dir: Path, name: str, log_key: str, as_json: bool) -> None:
    """Create a witness's key and identity for one log; print its verifier key.

    Add the printed line, followed by the witness's URL, to the server's
    [govern] audit_witnesses.
    """
    from jobshadow.govern.audit.note import VerifierKey
    from jobshadow.govern.audit.witness import Witness

    w = Witness.init(state_dir, name, VerifierKey.parse(log_key))
    if as_json:
        emit_json(w.status())
    else:
        click.echo(str(w.vkey))


@witness.command("serve")
@click.option("--state", "state_dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="The witness's state directory (from `audit witness init`).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (keep it loopback).")
@click.option("--port", type=click.IntRange(0, 65535), default=8790, show_default=True,
              help="TCP port (0: any free port; the one chosen is printed).")
def witness_serve(state_dir: Path, host: str, port: int) -> None:
    """Serve the witness over HTTP until Ctrl-C or SIGTERM.

    Prints one JSON line on stderr once listening: {"event": "listening", "url": …}.
    """
    from jobshadow.cli.serving import configure_logging
    from jobshadow.govern.audit.witness import Witness
    from jobshadow.govern.audit.witness_http import WitnessServer

    configure_logging()
    w = Witness(state_dir)
    server = WitnessServer(w, host, port)  # takes the state directory's lock

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(json.dumps({"event": "listening", "url": server.url, "name": w.name, "size": w.size}), err=True)
    try:
        server.serve_forever()
    finally:
        server.httpd.server_close()
        w.close()


@witness.command("status")
@click.option("--state", "state_dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="The witness's state directory.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def witness_status(state_dir: Path, as_json: bool) -> None:
    """What the witness has co-signed: size, root, time, refused checkpoints kept."""
    import time

    from jobshadow.govern.audit.witness import Witness

    st = Witness(state_dir).status()
    if as_json:
        emit_json(st)
        return
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(st["cosigned_at"])) if st["cosigned_at"] else "never"
    click.echo(f"witness {st['name']}\n  verifier key: {st['verifier_key']}\n"
               f"  cosigned size: {st['size']} (at {when})\n  root: {st['root']}\n"
               f"  refused checkpoints kept as evidence: {st['evidence']}")
