"""Architecture rules that keep the layers honest, checked on the real import graph."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SERVER_ONLY = ("sqlalchemy", "pyiceberg", "pyarrow", "starlette", "uvicorn", "duckdb", "fsspec", "prometheus_client",
               "pydantic", "numpy", "PIL", "jobshadow.ingest", "jobshadow.govern", "jobshadow.lake")


def loaded_by(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_the_recorder_never_loads_server_or_array_libraries() -> None:
    """Every laptop runs the recorder all day: none of the server stack, no numpy, no imaging."""
    mods = loaded_by("jobshadow.agent.recorder") | loaded_by("jobshadow.cli.main")
    leaked = sorted(m for m in mods for s in SERVER_ONLY if m == s or m.startswith(s + "."))
    assert not leaked, leaked


def test_records_errors_config_import_nothing_from_jobshadow() -> None:
    for module in ("jobshadow.records", "jobshadow.errors"):
        mods = loaded_by(module)
        own = sorted(m for m in mods if m.startswith("jobshadow.") and m != module)
        assert not own, (module, own)


SRC = Path(__file__).resolve().parents[1] / "src" / "jobshadow"
GOVERN = SRC / "govern"
# What only the governance door may open: the catalog and tables, the file systems behind the
# warehouse and object store, and the keys.
DOOR_ONLY_MODULES = ("pyiceberg.catalog", "pyiceberg.table", "pyiceberg.io", "fsspec", "s3fs", "gcsfs", "adlfs")
DOOR_ONLY_ATTRIBUTES = ("catalog", "object_store", "landing_recipient", "pseudonym_key", "kek_path", "keys_db",
                        "put_media", "get_media", "delete_rows", "expire_and_purge", "audit_key_path")
# The allow-list: outside the door, the only governance module anything may import is the package
# itself, and only the names it exports. One exception: a witness of the audit log runs on its own
# machine, with its own key and state, and opens nothing of the server's.
ALLOWED_GOVERN_IMPORTS = frozenset({"jobshadow.govern"})
WITNESS_MODULES = frozenset({"jobshadow.govern.audit.note", "jobshadow.govern.audit.witness",
                             "jobshadow.govern.audit.witness_http"})
ALLOWED_BY_FILE = {"cli/witness.py": WITNESS_MODULES}


def _outside_the_door() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if GOVERN not in p.parents)


def _imports(tree: ast.AST) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _govern_names(tree: ast.AST) -> list[tuple[str, str | None]]:
    """(module, name) of every import from ``jobshadow.govern`` and below."""
    out: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, None) for a in node.names if a.name.startswith("jobshadow.govern")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jobshadow.govern"):
            out += [(node.module, a.name) for a in node.names]
    return out


def _offences(label: str, source: str) -> list[str]:
    import jobshadow.govern

    tree = ast.parse(source, label)
    out = [f"{label} imports {name}" for name in sorted(_imports(tree))
           if any(name == m or name.startswith(m + ".") for m in DOOR_ONLY_MODULES)]
    for module, name in _govern_names(tree):
        if module in ALLOWED_BY_FILE.get(label, ()):
            continue
        if module not in ALLOWED_GOVERN_IMPORTS:
            out.append(f"{label} imports {module} (only jobshadow.govern itself is allowed)")
        elif name is not None and name not in jobshadow.govern.__all__:
            out.append(f"{label} imports {name} from jobshadow.govern, which does not export it")
    out += [f"{label}:{node.lineno} reaches for .{node.attr}" for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr in DOOR_ONLY_ATTRIBUTES]
    return out


def test_only_govern_opens_the_catalog_the_object_store_or_the_keys() -> None:
    """Issues 5 and 12: `jobshadow.govern` is the one door; everything else goes through what it exports."""
    checked = _outside_the_door()
    assert len(checked) > 50
    offences = [o for path in checked for o in _offences(str(path.relative_to(SRC)), path.read_text())]
    assert offences == []


def test_the_door_rule_reports_a_module_that_bypasses_it() -> None:
    bad = ("from pyiceberg.catalog.sql import SqlCatalog\nimport fsspec\nfrom jobshadow.govern.keys import pseudonym\n"
           "from jobshadow.govern import Governance, SubjectKeys\n\ndef f(gov):\n    return gov.storage.catalog\n")
    assert _offences("bad.py", bad) == [
        "bad.py imports fsspec", "bad.py imports pyiceberg.catalog.sql",
        "bad.py imports pyiceberg.catalog.sql.SqlCatalog",
        "bad.py imports jobshadow.govern.keys (only jobshadow.govern itself is allowed)",
        "bad.py imports SubjectKeys from jobshadow.govern, which does not export it",
        "bad.py:7 reaches for .catalog"]


def test_govern_exports_the_door_and_its_types_only() -> None:
    """``__all__`` is the whole surface: every name resolves, nothing else is reachable by name."""
    import jobshadow.govern as govern

    assert len(set(govern.__all__)) == len(govern.__all__)
    assert set(govern.__all__) == set(govern._WHERE)
    for name in govern.__all__:
        assert getattr(govern, name) is not None, name
    with pytest.raises(AttributeError):
        govern.SubjectKeys  # noqa: B018 - the data keys are the door's own
    assert {"Governance", "CollectorDoor", "PolicyDenied", "Finding"} <= set(govern.__all__)
    assert not {"SubjectKeys", "FileKEK", "Storage", "GovernState", "AuditLog"} & set(govern.__all__)


def test_the_collector_loads_no_part_of_the_door_that_opens_curated_data() -> None:
    """Issue 12: the internet-facing collector holds no key to curated data, pseudonyms or the audit
    signature; it does not even load the code that would open them."""
    mods = loaded_by("jobshadow.ingest.app") | loaded_by("jobshadow.cli.serving")
    assert not mods & {"jobshadow.govern.door", "jobshadow.govern.keys", "jobshadow.govern.tables",
                       "jobshadow.govern.policy", "jobshadow.govern.heads", "cedarpy", "duckdb"}


def _jobshadow_imports(package: str) -> dict[str, set[str]]:
    """module path -> the jobshadow modules it imports (anywhere in the file, lazily or not)."""
    out: dict[str, set[str]] = {}
    for path in sorted((SRC / package).rglob("*.py")):
        names = _imports(ast.parse(path.read_text(), str(path)))
        out[str(path.relative_to(SRC))] = {n for n in names if n.startswith("jobshadow.")}
    return out


def test_the_lake_holds_table_definitions_and_imports_no_stage_above_it() -> None:
    """Issue 13: ``govern`` imports the lake's table definitions, so the lake imports neither govern
    nor the curation stage that writes through it (no backward arrow)."""
    offences = {path: sorted(n for n in names if n.startswith(("jobshadow.govern", "jobshadow.curate",
                                                               "jobshadow.datasets", "jobshadow.redact")))
                for path, names in _jobshadow_imports("lake").items()}
    assert {p: o for p, o in offences.items() if o} == {}


def test_device_privacy_filters_never_import_a_platform_backend() -> None:
    """Issue 13: protect, spool, upload and segment share records with capture, never the X11 code."""
    for package in ("protect", "spool", "upload", "segment"):
        offences = {p: sorted(n for n in names if n.startswith("jobshadow.capture.x11"))
                    for p, names in _jobshadow_imports(package).items()}
        assert {p: o for p, o in offences.items() if o} == {}, package
