"""Architecture rules that keep the layers honest, checked on the real import graph."""

from __future__ import annotations

import subprocess
import sys

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
