"""``jobshadow login``, ``logout``, ``whoami``: a person's identity with the governance door (any machine).

``login`` makes an Ed25519 key pair under this ``JOBSHADOW_HOME`` (the private key never leaves
it), redeems the one-time code an administrator gave you (``admin invite``; the first one comes
from ``server init`` on the server host), and registers the public key. From then on every
administrative, governance, audit, subject-rights, query, curation and dataset command is a
request signed with it.
"""

from __future__ import annotations

import click

from jobshadow.cli._util import emit_json
from jobshadow.cli.main import AppContext, pass_app


@click.command("login")
@click.option("--server", "server_url", required=True,
              help="The governance door's URL (https, or http on this machine), e.g. http://127.0.0.1:8788.")
@click.option("--code", required=True, help="Your one-time login code.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def login(app: AppContext, server_url: str, code: str, as_json: bool) -> None:
    """Log in to the governance door with a one-time CODE; the key made for it stays here."""
    from jobshadow.api.client import login as do_login

    who = do_login(app.home, server_url, code)
    if as_json:
        emit_json(who.as_json())
    else:
        click.echo(f"logged in as {who.principal} ({', '.join(who.roles) or 'no roles'}) at {who.server_url}")


@click.command("logout")
@pass_app
def logout(app: AppContext) -> None:
    """Forget this machine's login (its key is deleted; log in again with a new code)."""
    from jobshadow.api.client import logout as do_logout

    click.echo("logged out" if do_logout(app.home) else "not logged in")


@click.command("whoami")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def whoami(app: AppContext, as_json: bool) -> None:
    """Who the door takes you for, and your roles (asked of the door, with a signed request)."""
    from jobshadow.cli._door import call

    out = call(app, "whoami")
    if as_json:
        emit_json(out)
    else:
        click.echo(f"{out['principal']}: {', '.join(out['roles']) or 'no roles'}")


COMMANDS = [login, logout, whoami]
