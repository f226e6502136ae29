"""Governance (curated zone): the one door to the lake, and the types it hands out.

Everything outside this package imports from here, never from its modules (an architecture test
holds every module to that allow-list), and ``__all__`` is the whole surface (a test checks that
too). Names load lazily, so the collector, which uses ``CollectorDoor`` alone, does not load the
policy engine, the SQL engine or the lake's table machinery.

* the door: ``Governance`` (reads, writes, grants, rights, the audit log) and its types;
* the collector's part of it: ``CollectorDoor`` (control state, landing zone, append-only audit;
  no key that opens curated data, the pseudonym key or the audit signing key);
* the programme's control state: ``ProgrammeState``, ``People``, ``ProgrammeAdmin``;
* host maintenance (``jobshadow server …`` on the server itself): ``open_programme``,
  ``init_admin``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobshadow.govern.audit import format_time
    from jobshadow.govern.collector import CollectorDoor
    from jobshadow.govern.control import Device, People, ProgrammeState, ScopeDefinition
    from jobshadow.govern.control.admin import ProgrammeAdmin
    from jobshadow.govern.dataset_registry import BuildRecord, DatasetRegistry
    from jobshadow.govern.door import (
        PIPELINE,
        SCREEN_REDACTION,
        Finding,
        Governance,
        GovernedRead,
        KeyUnavailable,
        NotAuthenticated,
        PolicyDenied,
        ResultTooLarge,
    )
    from jobshadow.govern.duties import ROLES
    from jobshadow.govern.expr import both, eq
    from jobshadow.govern.heads import log_key
    from jobshadow.govern.host import init_admin, open_programme
    from jobshadow.govern.http import QueryAPI
    from jobshadow.govern.landing import Committer, LandingZone
    from jobshadow.govern.purposes import Registry, registry
    from jobshadow.govern.retention import RetentionReport, enforce_retention
    from jobshadow.govern.rights import ErasureReport, erase_subject, export_subject, resolve_subject
    from jobshadow.govern.state import Grant

_WHERE = {
    "PIPELINE": "door", "SCREEN_REDACTION": "door", "Finding": "door", "Governance": "door", "GovernedRead": "door",
    "KeyUnavailable": "door", "NotAuthenticated": "door", "PolicyDenied": "door", "ResultTooLarge": "door",
    "Grant": "state", "ROLES": "duties", "eq": "expr", "both": "expr", "format_time": "audit", "log_key": "heads",
    "CollectorDoor": "collector", "Committer": "landing", "LandingZone": "landing",
    "Device": "control", "People": "control", "ProgrammeState": "control", "ScopeDefinition": "control",
    "ProgrammeAdmin": "control.admin", "init_admin": "host", "open_programme": "host",
    "BuildRecord": "dataset_registry", "DatasetRegistry": "dataset_registry",
    "Registry": "purposes", "registry": "purposes", "QueryAPI": "http",
    "RetentionReport": "retention", "enforce_retention": "retention",
    "ErasureReport": "rights", "erase_subject": "rights", "export_subject": "rights", "resolve_subject": "rights",
}

__all__ = [
    "PIPELINE",
    "ROLES",
    "SCREEN_REDACTION",
    "BuildRecord",
    "CollectorDoor",
    "Committer",
    "DatasetRegistry",
    "Device",
    "ErasureReport",
    "Finding",
    "Governance",
    "GovernedRead",
    "Grant",
    "KeyUnavailable",
    "LandingZone",
    "NotAuthenticated",
    "People",
    "PolicyDenied",
    "ProgrammeAdmin",
    "ProgrammeState",
    "QueryAPI",
    "Registry",
    "ResultTooLarge",
    "RetentionReport",
    "ScopeDefinition",
    "both",
    "enforce_retention",
    "eq",
    "erase_subject",
    "export_subject",
    "format_time",
    "init_admin",
    "log_key",
    "open_programme",
    "registry",
    "resolve_subject",
]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'jobshadow.govern' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"jobshadow.govern.{where}"), name)
    globals()[name] = value
    return value
