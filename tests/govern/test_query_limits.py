"""Governed SQL under limits, over real HTTP: time, memory, departed clients, SIGTERM, errors.

Issue 12: a recursive CTE kept a core busy after its client left, the server ignored SIGTERM
while it ran, and ``subject_access`` on ``landing.segments`` answered HTTP 500 unaudited. The
query API (``QueryAPI``) is served here on its own, as any server that mounts it does: in this
process for the limits, and in a process of its own that is sent SIGTERM.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from jobshadow.config import Settings
from jobshadow.durations import Duration
from jobshadow.errors import ConfigError
from jobshadow.govern.door import Governance
from jobshadow.govern.http import QueryAPI
from jobshadow.govern.limits import QueryStopped
from jobshadow.protocol import sign_principal_request
from jobshadow.testing import poll
from jobshadow.testing.fleet import free_port
from jobshadow.testing.lake import BuiltLake

from .conftest import TYPED_CANARY

ADMIN = "admin@example.com"
ANALYST = "person:limits-analyst@example.com"
SQL = "SELECT kind, count(*) AS n FROM curated.events GROUP BY kind ORDER BY kind"
# Runs for minutes without limits: one row per step of a recursive CTE, no table read at all.
RUNAWAY = "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 1000000000) SELECT sum(n) FROM t"


def app_for(api: QueryAPI) -> Any:
    """The query API as a server mounts it: its routes, and ``close`` when the server stops."""
    from starlette.applications import Starlette

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        api.close()

    return Starlette(routes=api.routes(), lifespan=lifespan)


class Served:
    """uvicorn on a free loopback port, in a thread of this process."""

    def __init__(self, api: QueryAPI) -> None:
        import uvicorn

        self.api = api
        self.port = free_port()
        config = uvicorn.Config(app_for(api), host="127.0.0.1", port=self.port, log_config=None, access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_for(lambda: self.server.started)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def wait_for(cond: Any, timeout: float = 30.0) -> None:
    poll.wait_for(cond, timeout)


def idle_within(timeout: float, window: float = 1.0, busy: float = 0.3) -> bool:
    """True once this process spends less than ``busy`` CPU seconds in a ``window`` (polled)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        start = time.process_time()
        time.sleep(window)
        if time.process_time() - start < busy:
            return True
    return False


@pytest.fixture(scope="module")
def key(built: BuiltLake) -> Ed25519PrivateKey:
    k = Ed25519PrivateKey.generate()
    with Governance(built.settings) as gov:
        gov.add_principal(ANALYST, by=ADMIN, public_key=k.public_key().public_bytes(Encoding.Raw,
                                                                                    PublicFormat.Raw).hex())
        gov.grant(ANALYST, "read", "curated.events", "model_training", 3600, by=ADMIN)
    return k


def limited(settings: Settings, **govern: Any) -> Settings:
    return msgspec.structs.replace(settings, govern=msgspec.structs.replace(settings.govern, **govern))


@pytest.fixture(scope="module")
def served(built: BuiltLake, key: Ed25519PrivateKey) -> Iterator[Served]:
    s = Served(QueryAPI(limited(built.settings, query_timeout=Duration(1.5))))
    try:
        yield s
    finally:
        s.stop()


def send(port: int, k: Ed25519PrivateKey, principal: str, payload: dict[str, object],
         timeout: float = 60) -> http.client.HTTPConnection:
    body = json.dumps(payload).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("POST", "/v1/query", body=body, headers={
        "content-type": "application/json", **sign_principal_request(k, principal, "POST", "/v1/query", body)})
    return conn


def ask(port: int, k: Ed25519PrivateKey, principal: str, payload: dict[str, object]) -> tuple[int, Any]:
    conn = send(port, k, principal, payload)
    try:
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def test_a_runaway_query_is_stopped_by_its_time_limit(served: Served, key: Ed25519PrivateKey) -> None:
    started = time.monotonic()
    status, body = ask(served.port, key, ANALYST, {"purpose": "model_training", "sql": RUNAWAY})
    assert status == 422 and body["error"]["code"] == "query_timeout", body
    assert time.monotonic() - started < 15
    assert idle_within(10), "the stopped query still burns CPU"
    status, body = ask(served.port, key, ANALYST, {"purpose": "model_training", "sql": SQL})
    assert status == 200 and body["rows"], "the server answers the next query as usual"


def test_a_query_whose_client_leaves_is_cancelled(built: BuiltLake, key: Ed25519PrivateKey) -> None:
    s = Served(QueryAPI(built.settings))  # the default limit: 30 s
    try:
        conn = send(s.port, key, ANALYST, {"purpose": "model_training", "sql": RUNAWAY})
        wait_for(lambda: bool(s.api._running))  # the query is under way
        left = time.monotonic()
        conn.close()  # the client goes away
        wait_for(lambda: not s.api._running, timeout=20)
        assert time.monotonic() - left < 10, "the query outlived its client"
        assert idle_within(10)
    finally:
        s.stop()


def test_a_memory_hungry_query_is_stopped_and_errors_quote_no_data(built: BuiltLake, key: Ed25519PrivateKey) -> None:
    with Governance(limited(built.settings, query_memory_mb=64)) as gov:
        sql = ("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3000) "
               "SELECT a.n, b.n FROM t a, t b ORDER BY random()")
        with pytest.raises(QueryStopped) as exc:
            gov.query(ANALYST, "model_training", sql)
        assert exc.value.code == "query_memory"
        # Conversion errors quote the value they failed on: the message withholds it.
        with pytest.raises(ConfigError) as err:
            gov.query(ANALYST, "model_training", "SELECT CAST(kind AS INTEGER) FROM curated.events")
        assert "key_press" not in str(err.value) and "withheld" in str(err.value)


def test_subject_access_to_the_landing_table_answers_and_is_audited(served: Served, built: BuiltLake) -> None:
    """It answered HTTP 500, unaudited: a row rule named a column the landing table lacks."""
    alice = "person:alice-self@example.com"
    k = Ed25519PrivateKey.generate()
    with Governance(built.settings) as gov:
        gov.add_principal(alice, by=ADMIN, public_key=k.public_key().public_bytes(Encoding.Raw,
                                                                                  PublicFormat.Raw).hex(),
                          person_id=built.people["alice@example.com"])
        gov.grant(alice, "read", "landing.segments", "subject_access", 3600, by=ADMIN)
    status, body = ask(served.port, k, alice, {
        "purpose": "subject_access", "sql": "SELECT person_id, count(*) FROM landing.segments GROUP BY person_id"})
    assert status == 200, body
    assert body["rows"] == [[built.people["alice@example.com"], 2]]  # her own segments, no one else's
    with Governance(built.settings) as gov:
        mine = gov.audit_records(table="landing.segments", principal=alice)
    assert mine and mine[-1][1].decision == "allow"


def test_an_internal_error_is_a_json_500_that_is_audited(served: Served, key: Ed25519PrivateKey,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    gov = served.api.governance()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"storage fell over near {TYPED_CANARY}")

    monkeypatch.setattr(gov.tables, "scan", broken)
    status, body = ask(served.port, key, ANALYST, {"purpose": "model_training", "sql": SQL})
    assert status == 500 and body["error"]["code"] == "internal_error"
    assert TYPED_CANARY not in json.dumps(body) and "RuntimeError" not in json.dumps(body)
    last = gov.audit_records(principal=ANALYST)[-1][1]
    assert (last.decision, last.action, last.reason) == ("deny", "query", "internal_error: RuntimeError")


# --- SIGTERM ---------------------------------------------------------------------------------------
SERVE = """
import contextlib, sys, uvicorn
from starlette.applications import Starlette
from jobshadow.config import load_settings
from jobshadow.govern.http import QueryAPI

api = QueryAPI(load_settings())

@contextlib.asynccontextmanager
async def lifespan(app):
    yield
    api.close()

uvicorn.run(Starlette(routes=api.routes(), lifespan=lifespan), host="127.0.0.1", port=int(sys.argv[1]),
            log_config=None, timeout_graceful_shutdown=5)
"""


def healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/")
        conn.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        conn.close()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
def test_sigterm_stops_the_server_while_a_query_runs(built: BuiltLake, key: Ed25519PrivateKey,
                                                     tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "JOBSHADOW_HOME": str(built.settings.home)}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", SERVE, str(port)], stderr=out, env=env)
    conn = None
    try:
        wait_for(lambda: proc.poll() is not None or healthy(port), timeout=60)
        assert proc.poll() is None, log.read_text()
        conn = send(port, key, ANALYST, {"purpose": "model_training", "sql": RUNAWAY})
        busy = cpu_seconds(proc.pid)
        wait_for(lambda: cpu_seconds(proc.pid) - busy > 1.0)  # the query runs: minutes, unless stopped
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        # uvicorn waits up to 5 s for requests to finish, then cancels them: the query is
        # interrupted, the lifespan ends, and the process exits with the signal's status.
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM), log.read_text()
        assert time.monotonic() - stopping < 15
    finally:
        if conn is not None:
            conn.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
