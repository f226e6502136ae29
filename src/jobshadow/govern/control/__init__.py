"""The programme's control state, kept by the governance door (curated zone; no keys here).

Who takes part and on what terms: people (e-mail → person id) and their devices and enrolment
codes, consent, the programme's kill switch, collection scopes with every version and their
privacy reviews. One database (the governance state's), so a change is one transaction, and
nothing in this package opens a key: the internet-facing collector reads and writes this state
through it (enrolment, device configuration, a device's consent report), the governance door
does everything else.
"""

from __future__ import annotations

from jobshadow.govern.control.people import Device, People
from jobshadow.govern.control.programme import ProgrammeState
from jobshadow.govern.control.scopes import ScopeDefinition, scope_diff

__all__ = ["Device", "People", "ProgrammeState", "ScopeDefinition", "scope_diff"]
