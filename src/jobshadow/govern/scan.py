"""The exposure scan: is anything readable, or granted, more widely than it should be? (curated zone)

Checks, each yielding ``Finding``s with a stable ``kind``:

* ``unlabelled`` — a table (or column) in the catalog without labels;
* ``broad_grant`` — an active grant to ``*`` or to an all-employees group on a table carrying a
  sensitive label;
* ``large_group`` — an active grant to a group with more members than ``max_group_size``;
* ``plaintext`` — a sensitive value (sampled from sealed columns, decrypted) found in clear in a
  warehouse file (Parquet values, manifests, metadata) or an object-store blob; or a blob that is
  not sealed at all;
* ``sensitive_text`` — a secret or piece of PII that the detector finds in a sample of the
  curated text (window titles, task and marker details, text typed per segment and assistant
  prompts, decrypted): the device should have removed it, so something let it through. The
  finding names the table, column and segment, never the value;
* ``derived_labels`` — a derived table labelled less strictly than its inputs without a
  recorded declassification;
* ``key_file`` — a key file readable by other users.

``exposure_warnings`` lists what does not pause the programme but weakens a guarantee:
``audit_key_local`` (the audit signing key is a file on this host) and ``audit_unwitnessed`` (no
witness co-signs the audit log), either of which lets an operator rewrite the log undetected.

The scan reads sensitive values to look for them; it does so as the governance service for
``privacy_audit`` and leaves an audit record like any other access.
"""

from __future__ import annotations

import os
import random
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from jobshadow.govern.model import Finding
from jobshadow.govern.purposes import SENSITIVE
from jobshadow.lake import curated

if TYPE_CHECKING:
    from jobshadow.govern.door import Governance

SCANNER = "service:exposure-scan"
MIN_NEEDLE = 6
BYTE_BUDGET = 512 * 2**20  # most bytes read from the warehouse and the object store per scan
SEALED_MAGIC = (b"JSSEAL1", b"\x01", b"\x02")  # landed segments (sealed stream), curated blocks, media


def exposure_scan(gov: Governance) -> list[Finding]:
    gov.tables.forget_names()  # a full check: list the catalog afresh
    findings: list[Finding] = []
    findings += _labels(gov, Finding)
    findings += _grants(gov, Finding)
    findings += _derived(gov, Finding)
    findings += _key_files(gov, Finding)
    findings += _exports(gov, Finding)
    findings += _plaintext(gov, Finding)
    findings += _sensitive_text(gov, Finding)
    gov.audit([gov._record(SCANNER, "scan", "table:*", "privacy_audit", True, ("exposure-scan",),
                           detail={"findings": len(findings),
                                   "kinds": ",".join(sorted({f.kind for f in findings}))})])
    return findings


def exposure_warnings(gov: Governance) -> list[Finding]:
    """Weaknesses that are not findings (they pause nothing); see the module docstring."""
    from jobshadow.govern.heads import trail_warnings

    return [Finding(kind, resource, message) for kind, resource, message in trail_warnings(gov.storage)]


def _labels(gov: Governance, finding: type[Finding]) -> list[Finding]:
    from jobshadow.errors import ConfigError
    from jobshadow.govern.tables import describe

    out = []
    for name in gov.tables.names():
        try:
            describe(gov.tables.load(name))
        except ConfigError as exc:
            out.append(finding("unlabelled", f"table:{name}", str(exc)))
    return out


def _grants(gov: Governance, finding: type[Finding]) -> list[Finding]:
    import time

    out = []
    s = gov.settings.govern
    sizes = gov.state.group_sizes()
    broad = set(s.broad_groups)
    names = set(gov.labelled_tables())
    for g in gov.state.grants(active_at=time.time()):
        if g.resource not in names:
            continue  # a grant on a table that no longer exists grants nothing
        labels = gov.tables.definition(g.resource).labels
        sensitive = sorted(labels & SENSITIVE)
        if (g.principal == "*" or g.principal in broad) and sensitive:
            out.append(finding("broad_grant", f"grant:{g.id}",
                               f"grant {g.id} gives {g.principal} {g.action} on {g.resource} "
                               f"(labels {', '.join(sensitive)}) for {g.purpose}: revoke it"))
        if g.principal.startswith("group:") and sizes.get(g.principal, 0) > s.max_group_size:
            out.append(finding("large_group", f"grant:{g.id}",
                               f"grant {g.id} is to {g.principal} with {sizes[g.principal]} members "
                               f"(more than {s.max_group_size}): grant a smaller group"))
    return out


def _derived(gov: Governance, finding: type[Finding]) -> list[Finding]:
    out = []
    names = set(gov.labelled_tables())
    for name in sorted(names):
        inputs = gov.tables.derived_from(name)
        if not inputs:
            continue
        defn = gov.tables.definition(name)
        sources, declass = gov.tables.provenance(name)
        lowered: set[str] = set()
        if declass:
            for entry in declass.get("lowered", []):
                lowered |= set(entry.split(":-", 1)[1].split(","))
        required: set[str] = set()
        for src in inputs:
            if src in names:
                required |= gov.tables.definition(src).labels
            else:
                out.append(finding("derived_labels", f"table:{name}", f"input {src} of {name} no longer exists"))
        missing = required - defn.labels - lowered
        if missing:
            out.append(finding("derived_labels", f"table:{name}",
                               f"{name} lacks its inputs' labels {sorted(missing)} and no declassifier lowered them"))
        for col, srcs in sources.items():
            need: set[str] = set()
            for src in srcs:
                t, _, c = src.rpartition(".")
                if t in names and c in {x.name for x in gov.tables.definition(t).columns}:
                    need |= gov.tables.definition(t).column(c).labels
            try:
                have = defn.column(col).labels
            except KeyError:
                continue
            if need - have - lowered:
                lacking = sorted(need - have - lowered)
                out.append(finding("derived_labels", f"table:{name}",
                                   f"column {col} of {name} lacks labels {lacking} of its sources"))
    return out


def _key_files(gov: Governance, finding: type[Finding]) -> list[Finding]:
    out = []
    keys = gov.storage.paths.keys
    for path in [keys, *keys.iterdir(), gov.storage.kek_path]:
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            continue
        if stat.S_IMODE(mode) & 0o077:
            out.append(finding("key_file", f"file:{path}", f"{path} is readable by other users (chmod go-rwx)"))
    return out


def _exports(gov: Governance, finding: type[Finding]) -> list[Finding]:
    """Every export still on disk must be readable by its owner only (0700 folders, 0600 files)."""
    out = []
    for e in gov.state.exports():
        root = Path(e["location"])
        if not root.exists():
            continue  # deleted since: nothing left to expose
        for path in [root, *root.rglob("*")] if root.is_dir() else [root]:
            if stat.S_IMODE(path.stat().st_mode) & 0o077:
                out.append(finding("export", f"export:{e['id']}",
                                   f"{e['kind']} {e['id']} ({', '.join(e['labels']) or 'no labels'}) has {path} "
                                   "readable by other users (chmod -R go-rwx, or delete it)"))
                break
    return out


def _needles(gov: Governance) -> list[str]:
    """Sensitive values to look for: sampled from every sealed column, decrypted."""
    limit = gov.settings.govern.scan_sample_values
    rng = random.Random(0x5CA7)
    needles: set[str] = set()
    for name in gov.labelled_tables():
        if name == curated.VAULT.name:
            continue
        defn = gov.tables.definition(name)
        sealed = [c.name for c in defn.sealed]
        if not sealed:
            continue
        data = gov.tables.scan(name, [*sealed, "segment_id", "seq"], decrypt=set(sealed))
        if data.num_rows == 0:
            continue
        for col in sealed:
            values = [v for v in data.column(col).to_pylist() if isinstance(v, str)]
            if not values:
                continue
            long_values = [v for v in set(values) if len(v) >= MIN_NEEDLE]
            needles.update(rng.sample(long_values, min(limit, len(long_values))))
            if sum(len(v) == 1 for v in values) > len(values) // 2:
                # Characters typed one key at a time: look for runs of them, as they were typed.
                runs = _typed_runs(data, col)
                needles.update(rng.sample(runs, min(limit, len(runs))))
    return sorted(needles)


def _typed_runs(data: pa.Table, col: str, width: int = 8) -> list[str]:
    chars = data.column(col).to_pylist()
    segs = data.column("segment_id").to_pylist()
    seqs = data.column("seq").to_pylist()
    order = sorted(range(data.num_rows), key=lambda i: (segs[i], seqs[i] if seqs[i] is not None else -1))
    runs: list[str] = []
    text: list[str] = []
    current = None
    for i in order:
        if segs[i] != current:
            runs += _windows("".join(text), width)
            text, current = [], segs[i]
        c = chars[i]
        if isinstance(c, str) and len(c) == 1 and c.isprintable():
            text.append(c)
    runs += _windows("".join(text), width)
    return sorted(set(runs))


def _windows(text: str, width: int) -> list[str]:
    # Key presses and releases both carry the character: collapse the doubled runs first.
    collapsed = re.sub(r"(.)\1", r"\1", text)
    return [collapsed[i:i + width] for i in range(0, max(0, len(collapsed) - width + 1), width)
            if len(collapsed[i:i + width].strip()) >= MIN_NEEDLE]


def _plaintext(gov: Governance, finding: type[Finding]) -> list[Finding]:
    needles = _needles(gov)
    out: list[Finding] = []
    pattern = re.compile("|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True))) if needles else None
    bpattern = re.compile(pattern.pattern.encode()) if pattern is not None else None
    budget = BYTE_BUDGET
    # Warehouse files: Parquet values are compressed, so they are read as values; everything
    # else (metadata JSON, Avro manifests) as bytes.
    warehouse = gov.tables.warehouse_files()
    random.Random(len(warehouse)).shuffle(warehouse)
    for path in warehouse:
        if budget <= 0:
            break
        size = path.stat().st_size
        budget -= size
        if pattern is None or bpattern is None:
            continue
        if path.suffix == ".parquet":
            try:
                table = pq.read_table(path)
            except Exception as exc:
                out.append(finding("plaintext", f"file:{path.name}", f"unreadable Parquet file {path}: {exc}"))
                continue
            for fld in table.schema:
                if pa.types.is_string(fld.type) or pa.types.is_large_string(fld.type):
                    joined = "\n".join(v for v in table.column(fld.name).to_pylist() if v)
                    if pattern.search(joined):
                        out.append(finding("plaintext", f"file:{path.name}",
                                           f"a sensitive value is in clear in column {fld.name} of {path}"))
        elif bpattern.search(path.read_bytes()):
            out.append(finding("plaintext", f"file:{path.name}", f"a sensitive value is in clear in {path}"))
    store = gov.storage.object_store
    for name in store.list():
        if budget <= 0:
            break
        with store.open(name) as fh:
            blob = fh.read()
        budget -= len(blob)
        if not blob.startswith(SEALED_MAGIC):
            out.append(finding("plaintext", f"blob:{name}", f"object-store blob {name} is not sealed"))
        elif bpattern is not None and bpattern.search(blob):
            out.append(finding("plaintext", f"blob:{name}", f"a sensitive value is in clear in blob {name}"))
    return out


# Whole values: titles and marker details are text in one piece.
_TEXT_COLUMNS = {curated.WINDOWS.name: ("title",), curated.MARKERS.name: ("detail",)}
# Typed one key per row: rebuilt per segment in order, as it was typed.
_KEY_COLUMNS = (("char", "keysym_name"), ("prompt_char", "prompt_keysym_name"))


def _sensitive_text(gov: Governance, finding: type[Finding]) -> list[Finding]:
    """Run the detector over a sample of curated text; every finding is a leak past the device."""
    from jobshadow.sensitive import scan

    limit = gov.settings.govern.scan_sample_values
    rng = random.Random(0x7E47)
    out: list[Finding] = []
    names = set(gov.labelled_tables())
    for table, columns in _TEXT_COLUMNS.items():
        if table not in names:
            continue
        data = gov.tables.scan(table, [*columns, "segment_id"], decrypt=set(columns))
        segs = data.column("segment_id").to_pylist()
        for col in columns:
            values = data.column(col).to_pylist()
            rows = [i for i, v in enumerate(values) if isinstance(v, str) and v]
            for i in rng.sample(rows, min(limit, len(rows))):
                kinds = sorted({f.kind for f in scan(values[i])})
                if kinds:
                    out.append(finding("sensitive_text", f"table:{table}",
                                       f"{table}.{col} of segment {segs[i]} holds {', '.join(kinds)} in clear "
                                       "(the device should have redacted it)"))
    if curated.EVENTS.name in names:
        cols = [c for pair in _KEY_COLUMNS for c in pair]
        data = gov.tables.scan(curated.EVENTS.name, ["segment_id", "seq", "kind", *cols], decrypt=set(cols))
        by_segment: dict[str, list[int]] = {}
        segs = data.column("segment_id").to_pylist()
        for i, seg in enumerate(segs):
            by_segment.setdefault(seg, []).append(i)
        kinds_col = data.column("kind").to_pylist()
        seqs = data.column("seq").to_pylist()
        for seg in rng.sample(sorted(by_segment), min(limit, len(by_segment))):
            order = sorted(by_segment[seg], key=lambda i: seqs[i] if seqs[i] is not None else -1)
            for char_col, name_col in _KEY_COLUMNS:
                chars = data.column(char_col).to_pylist()
                key_names = data.column(name_col).to_pylist()
                text: list[str] = []
                for i in order:
                    if kinds_col[i] == "redaction":
                        text.append("\u2588")  # what the device removed stays removed
                    elif kinds_col[i] != "key_press":
                        continue
                    elif isinstance(chars[i], str):
                        text.append(chars[i])
                    elif key_names[i] == "BackSpace" and text:
                        text.pop()
                kinds = sorted({f.kind for f in scan("".join(text))})
                if kinds:
                    out.append(finding("sensitive_text", f"table:{curated.EVENTS.name}",
                                       f"text typed in segment {seg} ({char_col}) holds {', '.join(kinds)} in clear "
                                       "(the device should have redacted it)"))
    return out
