"""Architecture rules that keep the layers honest, checked on the real import graph."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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
DOOR_ONLY_MODULES = ("pyiceberg.catalog", "pyiceberg.table", "pyiceberg.io", "fsspec", "s3fs", "gcsfs", "adlfs",
                     "jobshadow.govern.keys", "jobshadow.govern.tables")
DOOR_ONLY_ATTRIBUTES = ("catalog", "object_store", "landing_recipient", "pseudonym_key", "kek_path", "keys_db",
                        "put_media", "get_media", "delete_rows", "expire_and_purge")


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


def _offences(label: str, source: str) -> list[str]:
    tree = ast.parse(source, label)
    out = [f"{label} imports {name}" for name in sorted(_imports(tree))
           if any(name == m or name.startswith(m + ".") for m in DOOR_ONLY_MODULES)]
    out += [f"{label}:{node.lineno} reaches for .{node.attr}" for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr in DOOR_ONLY_ATTRIBUTES]
    return out


def test_only_govern_opens_the_catalog_the_object_store_or_the_keys() -> None:
    """Issue 5: `jobshadow.govern` is the one door; everything else goes through `Governance`."""
    checked = _outside_the_door()
    assert len(checked) > 50
    offences = [o for path in checked for o in _offences(str(path.relative_to(SRC)), path.read_text())]
    assert offences == []


def test_the_door_rule_reports_a_module_that_bypasses_it() -> None:
    bad = "from pyiceberg.catalog.sql import SqlCatalog\nimport fsspec\n\ndef f(gov):\n    return gov.storage.catalog\n"
    assert _offences("bad.py", bad) == [
        "bad.py imports fsspec", "bad.py imports pyiceberg.catalog.sql",
        "bad.py imports pyiceberg.catalog.sql.SqlCatalog", "bad.py:5 reaches for .catalog"]
