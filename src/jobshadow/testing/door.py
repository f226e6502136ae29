"""The governance door on loopback, and people logged in to it, for demo and tests.

``LiveDoor`` runs the real door app (``jobshadow.api.app``) on real uvicorn in a thread, on a
free port; ``person`` invites someone with roles (as host maintenance does for the first
administrator) and logs them in under a ``JOBSHADOW_HOME`` of their own, returning that home:
CLI commands run with it are that person's signed requests.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from jobshadow.config import Settings
from jobshadow.home import Home
from jobshadow.testing.fleet import Served

if TYPE_CHECKING:
    from jobshadow.api.client import PersonIdentity
    from jobshadow.govern import Governance, QueryAPI


class LiveDoor:
    """The door app with its own ``Governance`` (or ``gov``, which the caller keeps and closes)."""

    def __init__(self, settings: Settings, gov: Governance | None = None) -> None:
        from jobshadow.api.app import create_door_app

        self.settings = settings
        self.app = create_door_app(settings, gov)
        self.gov: Governance = self.app.state.governance
        self.query_api: QueryAPI = self.app.state.query_api
        self._served = Served(self.app, "governance door")
        self.port, self.url = self._served.port, self._served.url

    def stop(self) -> None:
        self._served.stop()

    def invite(self, email: str, roles: list[str], by: str = "host:test") -> str:
        return self.gov.duties.invite(email, roles, by)[0]

    def person(self, root: Path, email: str, roles: list[str]) -> tuple[Home, PersonIdentity]:
        """Invite ``email`` with ``roles`` and log them in under their own home at ``root``."""
        from jobshadow.api.client import login

        home = Home(root).ensure()
        return home, login(home, self.url, self.invite(email, roles))
