"""Erasure over the dataset registry: rewrite, withdraw or report each dataset holding an erased person.

Curated zone; called by ``rights.erase_subject`` through ``DatasetRegistry.erase`` once the
person's key is destroyed. The phases and what a crash leaves behind are described in
``jobshadow.govern.dataset_registry``. Every step is audited per erased subject, with the
dataset's name and counts only. ``residual`` strings name, for the person being erased, each
copy this erasure could not reach, with where it was and why.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobshadow.durable import fsync_path
from jobshadow.govern.dataset_registry import (
    ACTIVE,
    BUILDING,
    REGISTRY_POLICY,
    REWRITING,
    SWAPPING,
    UNREACHABLE,
    WITHDRAWN,
    DatasetEntry,
    DatasetOutcome,
    now,
)

if TYPE_CHECKING:
    from jobshadow.govern.dataset_registry import DatasetRegistry, Rewriter

log = logging.getLogger(__name__)
Held = dict[str, dict[str, set[str]]]  # subject -> kind (file, task, segment) -> refs


class Eraser:
    """One erasure's pass over the registry, as ``by``, rewriting with ``rewriter``."""

    def __init__(self, registry: DatasetRegistry, by: str, rewriter: Rewriter) -> None:
        self.reg, self.by, self.rewriter = registry, by, rewriter

    def run(self, subject: str, erased: set[str]) -> list[DatasetOutcome]:
        outcomes = []
        for entry in self.reg.entries():
            held = self.reg.holdings_of(entry.id, erased)
            if not held:
                continue
            try:
                if entry.state in (REWRITING, SWAPPING):
                    entry, finished = self._recover(entry)
                    outcomes += [finished] if finished is not None else []
                    held = self.reg.holdings_of(entry.id, erased)  # a finished swap forgot its subjects
                outcome = self._one(entry, held, subject) if held else None
            except OSError as exc:  # a rename or removal refused midway: say so, never stop the erasure
                log.warning("dataset %s: erasure stopped midway (%s)", entry.name, exc.strerror or exc)
                outcome = self._unreachable(entry, held, subject, f"the erasure was stopped midway: {exc}")
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    # --- one dataset --------------------------------------------------------------------------------
    def _one(self, entry: DatasetEntry, held: Held, subject: str) -> DatasetOutcome | None:
        loc = Path(entry.location)
        if entry.state == WITHDRAWN:
            return self._withdrawn_before(entry, held, subject)
        if entry.state == BUILDING:
            # Registered, files not yet moved into place: take the staging folder from the build
            # (its rename then fails and it stops) so nothing of the person lands afterwards.
            staging = Path((entry.pending or {}).get("staging", ""))
            tomb = staging.with_name(staging.name + ".withdrawn")
            try:
                os.rename(staging, tomb)
            except FileNotFoundError:
                if not loc.is_dir():
                    return self._withdraw(entry, held, subject, "its build never completed", [], None)
                self.reg.activate(entry.id)  # it landed meanwhile: rewrite it like any other
            else:
                return self._withdraw(entry, held, subject, "it was still being built", [], tomb)
        if not loc.is_dir():
            return self._unreachable(entry, held, subject, f"{loc} is not there (moved or deleted outside jobshadow)")
        problem = unwritable(loc)
        if problem is not None:
            return self._unreachable(entry, held, subject, problem)
        missing = sorted(f for f in self.reg.files_of(entry.id) if not (loc / f).exists())
        if missing:
            return self._withdraw(entry, held, subject, f"{len(missing)} of its registered files are not in {loc}",
                                  missing, None)
        return self._rewrite(entry, held, subject)

    def _rewrite(self, entry: DatasetEntry, held: Held, subject: str) -> DatasetOutcome:
        loc = Path(entry.location)
        token = secrets.token_hex(4)
        pending: dict[str, Any] = {"staging": str(loc.with_name(f".{loc.name}.rewrite-{token}")),
                                   "retired": str(loc.with_name(f".{loc.name}.erased-{token}")),
                                   "subjects": sorted(held)}
        staging = Path(pending["staging"])
        self.reg.set_state(entry.id, REWRITING, pending)
        self._audit(entry, held, "rewrite", "erasure rewrite started")
        drop_tasks = frozenset(t for kinds in held.values() for t in kinds.get("task", ()))
        drop_segments = frozenset(s for kinds in held.values() for s in kinds.get("segment", ()))
        try:
            staging.mkdir(mode=0o700)
            pending["removed"] = self.rewriter(loc, staging, drop_tasks, drop_segments,
                                               {"at": now(), "reason": "an erasure request"})
            fsync_tree(staging)
        except BaseException as exc:
            remove_tree(staging)
            self.reg.set_state(entry.id, ACTIVE, None)
            if not isinstance(exc, Exception):
                raise
            # A damaged file, a format the rewriter cannot read, a full disk: take it out of use.
            log.warning("dataset %s could not be rewritten: %s", entry.name, type(exc).__name__)
            return self._withdraw(entry, held, subject, f"it could not be rewritten ({type(exc).__name__}: {exc})",
                                  [], None)
        # From here on the journal says "swapping": a failure leaves it for the next erasure to finish.
        self.reg.set_state(entry.id, SWAPPING, pending)
        return self._swap(entry, pending)

    def _swap(self, entry: DatasetEntry, pending: dict[str, Any]) -> DatasetOutcome:
        """Put a complete staging folder in place of the dataset, then forget the erased subjects."""
        loc, staging, retired = Path(entry.location), Path(pending["staging"]), Path(pending["retired"])
        if staging.exists():
            if loc.exists():
                os.rename(loc, retired)
            os.rename(staging, loc)
            fsync_path(loc.parent)
        problem = remove_tree(retired)
        removed: dict[str, int] = pending.get("removed", {})
        subjects = list(pending["subjects"])
        self.reg.forget(entry.id, subjects)
        self.reg.set_state(entry.id, ACTIVE, None, {"at": now(), "action": "rewritten", "by": self.by,
                                                    "reason": "erasure request", **removed})
        held: Held = {s: {} for s in subjects}
        self._audit(entry, held, "rewrite", "erasure rewrite completed", removed)
        residual = [] if problem is None else [
            f"dataset {entry.name}: the copy it replaced could not all be removed from {retired} ({problem})"]
        return DatasetOutcome(entry.name, entry.location, "rewritten",
                              f"rewritten without {len(subjects)} erased person(s)", removed, residual)

    def _withdraw(self, entry: DatasetEntry, held: Held, subject: str, why: str, missing: list[str],
                  tomb: Path | None) -> DatasetOutcome:
        """Take the whole dataset out of use: its folder (or unfinished staging folder) is removed."""
        loc = Path(entry.location)
        if tomb is None and loc.exists():
            tomb = loc.with_name(f".{loc.name}.withdrawn-{secrets.token_hex(4)}")
            os.rename(loc, tomb)  # one step: the location goes from whole to absent
            fsync_path(loc.parent)
        problem = remove_tree(tomb) if tomb is not None else None
        self.reg.set_state(entry.id, WITHDRAWN, None, {"at": now(), "action": "withdrawn", "by": self.by,
                                                       "reason": why, "missing": missing})
        self._audit(entry, held, "withdraw", "dataset withdrawn after an erasure request", {"missing": len(missing)})
        outcome = DatasetOutcome(entry.name, entry.location, "withdrawn", f"withdrawn: {why}")
        mine = held.get(subject, {}).get("file", set())
        outcome.residual = [f"dataset {entry.name}: {f} was not in {loc} (moved or deleted outside jobshadow); any "
                            "copy of it still holds the person's data" for f in missing if f in mine]
        if problem is not None:
            outcome.residual.append(f"dataset {entry.name}: its files could not all be removed ({problem})")
        return outcome

    def _withdrawn_before(self, entry: DatasetEntry, held: Held, subject: str) -> DatasetOutcome | None:
        moved = {f for e in entry.history if e.get("action") == "withdrawn" for f in e.get("missing", [])}
        lost = sorted(moved & held.get(subject, {}).get("file", set()))
        if not lost:
            return None
        return DatasetOutcome(entry.name, entry.location, "withdrawn", "withdrawn before this erasure", residual=[
            f"dataset {entry.name}: {f} had been moved out of {entry.location} before the dataset was withdrawn; any "
            "copy of it still holds the person's data" for f in lost])

    def _unreachable(self, entry: DatasetEntry, held: Held, subject: str, why: str) -> DatasetOutcome:
        current = next(e for e in self.reg.entries() if e.id == entry.id)
        event = {"at": now(), "action": "unreachable", "by": self.by, "reason": why}
        if current.state in (REWRITING, SWAPPING):  # keep the journal: the next erasure finishes from it
            self.reg.set_state(entry.id, current.state, current.pending, event)
        else:
            self.reg.set_state(entry.id, UNREACHABLE, None, event)
        self._audit(entry, held, "rewrite", f"dataset unreachable: {why}", allowed=False)
        outcome = DatasetOutcome(entry.name, entry.location, "unreachable", why)
        if subject in held:
            outcome.residual.append(f"dataset {entry.name} at {entry.location}: {why}; it still holds the person's "
                                    "data (every later erasure tries again)")
        return outcome

    # --- crash recovery -----------------------------------------------------------------------------
    def _recover(self, entry: DatasetEntry) -> tuple[DatasetEntry, DatasetOutcome | None]:
        """Undo or finish what an interrupted rewrite left (see the registry's docstring)."""
        pending = entry.pending or {}
        finished = None
        if entry.state == REWRITING:
            remove_tree(Path(pending["staging"]))  # half written: the dataset in place is untouched
            self.reg.set_state(entry.id, ACTIVE, None, {"at": now(), "action": "rewrite interrupted",
                                                        "by": self.by,
                                                        "reason": "its unfinished staging folder was removed"})
        else:
            finished = self._swap(entry, pending)
        return next(e for e in self.reg.entries() if e.id == entry.id), finished

    def _audit(self, entry: DatasetEntry, held: Held, action: str, reason: str,
               detail: Mapping[str, int] | None = None, *, allowed: bool = True) -> None:
        gov = self.reg.gov
        counts: dict[str, str | int] = dict(detail or {})
        gov.audit([gov._record(self.by, action, f"dataset:{entry.name}", "subject_access", allowed, REGISTRY_POLICY,
                               reason, subject=s, detail=counts) for s in sorted(held)])


# --- the file system ---------------------------------------------------------------------------------
def fsync_tree(root: Path) -> None:
    """fsync every file and folder under ``root`` (and ``root``), so a rename publishes durable bytes."""
    for path in sorted(root.rglob("*"), key=lambda p: -len(p.parts)):
        fsync_path(path)
    fsync_path(root)


def unwritable(location: Path) -> str | None:
    """Why the dataset at ``location`` cannot be replaced or removed (None: it can).

    Tried, not inferred from mode bits: root ignores them, immutable flags and read-only mounts do not
    show in them."""
    for folder in [location.parent, location, *sorted(p for p in location.rglob("*") if p.is_dir())]:
        try:
            fd, probe = tempfile.mkstemp(prefix=".probe-", dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            return f"{folder} is not writable ({exc.strerror or exc})"
    return None


def remove_tree(path: Path) -> str | None:
    """Remove ``path`` entirely; why not, if it could not be."""
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"{exc.filename or path}: {exc.strerror or exc}"
    return None
