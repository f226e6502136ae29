"""The audit trail as the server runs it: signer, published heads and witnesses (curated zone).

A head kept only inside the database it vouches for proves little: whoever can rewrite the
leaves can rewrite the heads, and with the signing key on the same host, sign them again. So:

* every head is also written to ``[govern] audit_heads_dir`` (point it at write-once storage);
* the signing key may live outside the server home (``[govern] audit_signer``: a key file kept
  elsewhere, or a KMS/HSM behind a command; see ``jobshadow.govern.audit.signer``);
* witnesses (``[govern] audit_witnesses``), run by other people with their own keys, co-sign each
  head only if it extends the last one they signed, and ``audit verify`` asks them directly.

This module turns the settings into those objects (``open_trail``), and checks a log against all
of them (``verify_trail``). ``trail_warnings`` says what the exposure scan should warn about.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jobshadow.config import Settings
from jobshadow.errors import ConfigError
from jobshadow.govern.audit import AuditError, AuditLog, SignedTreeHead, VerifyReport, verify_log
from jobshadow.govern.audit.heads import log_verifier_key
from jobshadow.govern.audit.publisher import HeadPublisher, published, write_copy
from jobshadow.govern.audit.signer import HeadSigner, signer_from_spec
from jobshadow.govern.audit.verify import Problem
from jobshadow.govern.audit.witness_client import WitnessRef
from jobshadow.govern.audit.witnessed import WitnessReport, default_quorum, fetch, judge
from jobshadow.govern.storage import Storage

# Findings that name the very record whose bytes changed (not a range of them).
EXACT = frozenset({"leaf_hash", "leaf_invalid", "leaf_missing", "leaf_columns"})

__all__ = ["TrailReport", "log_key", "open_trail", "publish", "published", "signer_for", "trail",
           "trail_warnings", "verify_trail", "witnesses_of"]


def signer_for(storage: Storage) -> HeadSigner:
    """The head signer ``[govern] audit_signer`` names (``ConfigError`` if it cannot be had)."""
    try:
        return signer_from_spec(storage.settings.govern.audit_signer, storage.audit_key_path)
    except AuditError as exc:
        raise ConfigError(f"[govern] audit_signer: {exc}") from None


def witnesses_of(settings: Settings) -> list[WitnessRef]:
    try:
        refs = [WitnessRef.parse(w) for w in settings.govern.audit_witnesses]
    except AuditError as exc:
        raise ConfigError(f"[govern] audit_witnesses: {exc}") from None
    names = [r.name for r in refs]
    if len(set(names)) != len(names):
        raise ConfigError("[govern] audit_witnesses: each witness must be listed once (names repeat)")
    return refs


def log_key(storage: Storage) -> str:
    """The log's verifier key, for `audit witness init --log-key` on each witness's machine."""
    return str(log_verifier_key(signer_for(storage).public_key()))


@contextlib.contextmanager
def trail(storage: Storage) -> Iterator[AuditLog]:
    """The audit log for a short maintenance job on the host: heads published and witnessed on exit.

    Append with ``append_many`` as usual; closing publishes one head and sends it to the witnesses.
    """
    log, publisher = open_trail(storage)
    size = log.size
    try:
        yield log
    finally:
        if log.size != size:
            publisher.appended(log.size - size)
        publisher.close()
        log.close()


def open_trail(storage: Storage) -> tuple[AuditLog, HeadPublisher]:
    """The writable audit log and its publisher (which starts a thread: ``close`` it first)."""
    settings = storage.settings
    log = AuditLog(storage.paths.audit_db, signing_key=signer_for(storage))
    publisher = HeadPublisher(log, storage.audit_heads_dir, witnesses_of(settings),
                              interval=settings.govern.audit_head_interval)
    return log, publisher


def publish(log: AuditLog, directory: Path) -> SignedTreeHead:
    """Sign the current tree, store the head in the log and copy it to ``directory`` (no witnesses)."""
    head = log.publish_head()
    write_copy(directory, head)
    return head


@dataclass(frozen=True)
class TrailReport:
    """The log's own check, its witnesses' view, and published head files that could not be read."""

    log: VerifyReport
    witnesses: WitnessReport
    bad_files: list[str]

    @property
    def ok(self) -> bool:
        return self.log.ok and self.witnesses.ok and not self.bad_files

    def first_difference(self) -> tuple[int, str] | None:
        """The first record known to differ: exact from a witness's mirror or a leaf's own hash."""
        d = self.witnesses.first_difference
        exact = [(p.index, p.message) for p in self.log.problems if p.kind in EXACT and p.index is not None]
        if d is not None and (not exact or d.index <= min(exact)[0]):
            return d.index, f"witness {d.witness} saw another record there; the log now holds {d.log_holds}"
        return min(exact) if exact else None

    def problems(self) -> list[Problem]:
        return [*self.log.problems, *self.witnesses.problems(),
                *(Problem("published_head", f"published head file unreadable: {m}") for m in self.bad_files)]

    def summary(self) -> list[str]:
        """Lines for a terminal: the log, each witness, every problem, the first difference, OK."""
        r = self.log
        lines = [f"records: {r.tree_size}, root: {r.root_hash.hex()}",
                 f"operator heads checked: {r.heads_checked}, latest signed size: {r.latest_head_size}",
                 *self.witnesses.lines()]
        lines += [f"PROBLEM [{p.kind}] {p.message}" for p in self.problems() if p.kind != "first_difference"]
        first = self.first_difference()
        if first is not None:
            lines.append(f"FIRST RECORD THAT DIFFERS: #{first[0]}: {first[1]}")
        lines.append("OK" if self.ok else f"FAILED: {len(self.problems())} problem(s)")
        return lines

    def as_json(self) -> dict[str, object]:
        first = self.first_difference()
        w = self.witnesses
        return {"ok": self.ok, "tree_size": self.log.tree_size, "root": self.log.root_hash.hex(),
                "heads_checked": self.log.heads_checked, "unsigned_leaves": self.log.unsigned_leaves,
                "quorum": w.quorum, "confirmed": w.confirmed, "witnessed_size": w.witnessed_size,
                "witnesses": [{"name": v.name, "url": v.url, "state": v.state, "size": v.size,
                               "cosigned_at": v.cosigned_at, "message": v.message} for v in w.views],
                "first_difference": None if first is None else {"index": first[0], "message": first[1]},
                "problems": [{"kind": p.kind, "message": p.message, "index": p.index} for p in self.problems()]}


def verify_trail(storage: Storage, log: AuditLog, *, quorum: int | None = None,
                 timeout: float = 5.0) -> TrailReport:
    """Verify ``log`` against its heads, the published copies and the witnesses (asked directly)."""
    key = log.public_key
    if key is None:
        raise ConfigError("the audit log has no signing key")
    refs = witnesses_of(storage.settings)
    need = default_quorum(storage.settings.govern.audit_quorum if quorum is None else quorum, len(refs))
    if need > len(refs):
        raise ConfigError(f"a quorum of {need} needs at least {need} witnesses; {len(refs)} are configured")
    seen = fetch(refs, log_verifier_key(key), timeout)
    sizes = [got.head.tree_size for _, got in seen if got is not None and not isinstance(got, str)]
    heads, bad_files = published(storage.audit_heads_dir)
    report = verify_log(log, key, published=heads, roots_at=sizes)
    return TrailReport(report, judge(log.path, seen, report, need), bad_files)


def trail_warnings(storage: Storage) -> list[tuple[str, str, str]]:
    """(kind, resource, message) for the exposure scan: how an operator could rewrite the log."""
    settings = storage.settings
    out = []
    if not settings.govern.audit_signer.strip():
        out.append(("audit_key_local", f"file:{storage.audit_key_path}",
                    "the audit signing key is a file in the server home: whoever controls this host can "
                    "re-sign a rewritten log; set [govern] audit_signer to a KMS or HSM command"))
    if not settings.govern.audit_witnesses:
        out.append(("audit_unwitnessed", "audit:log",
                    "no witnesses co-sign the audit log, so a rewrite with the signing key verifies; "
                    "run `jobshadow audit witness` for the DPO and the works council and list them in "
                    "[govern] audit_witnesses"))
    return out
