"""Governed SQL: what a query touches, and the limits it runs under (curated zone).

The door reads only the tables and columns a query names — through policy, audit and
decryption — so it must know them before running anything. ``json_serialize_sql`` gives DuckDB's
parse tree: one SELECT statement (anything else is refused), the base tables, the column names
(a ``*`` anywhere means every column of the tables involved), and no table functions (they
could read files behind the door's back; the connection also runs with external access off).

Limits: every query has a ``QueryGuard``. It stops the query (``con.interrupt()``) when its time
is up (one watchdog thread serves every guard), when its client goes away or the server stops
(``cancel``); the door gives each DuckDB connection a memory limit with spilling off, so a query
past it fails instead of swapping. The HTTP layer makes the guard and installs it for the thread
that runs the query (``guarding``); the door takes it from there (``active_guard``), or makes one
with the configured timeout. ``failure`` turns DuckDB's errors into ``QueryStopped`` or a message
without data values (conversion errors quote the values they could not convert).
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import duckdb

from jobshadow.errors import ConfigError

MAX_SQL = 100_000
_parser: duckdb.DuckDBPyConnection | None = None
_parser_lock = threading.Lock()


@dataclass(frozen=True)
class SqlShape:
    tables: frozenset[str]  # "schema.table" as written (catalog prefix dropped)
    columns: frozenset[str] | None  # every identifier used as a column; None: all columns
    ctes: frozenset[str]


def analyse(sql: str) -> SqlShape:
    if not sql.strip():
        raise ConfigError("the query is empty")
    if len(sql) > MAX_SQL:
        raise ConfigError(f"the query is longer than {MAX_SQL} characters")
    with _parser_lock:
        global _parser
        if _parser is None:
            # Opening DuckDB costs ~12 ms; this connection only ever parses, never sees data.
            _parser = duckdb.connect(config={"enable_external_access": False})
        row = _parser.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
    tree = json.loads(row[0]) if row else {"error": True, "error_message": "no parse"}
    if tree.get("error"):
        msg = str(tree.get("error_message", "cannot parse"))
        if "Only SELECT" in msg:
            msg = "only a single SELECT statement may be run through the governance door"
        raise ConfigError(f"the query is refused: {msg.splitlines()[0]}")
    statements = tree.get("statements")
    if not isinstance(statements, list) or len(statements) != 1:
        raise ConfigError("the query is refused: exactly one SELECT statement, please")
    tables: set[str] = set()
    columns: set[str] = set()
    ctes: set[str] = set()
    star = False

    def walk(node: Any) -> None:
        nonlocal star
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        cls = node.get("class")
        if kind == "TABLE_FUNCTION":
            fn = (node.get("function") or {}).get("function_name", "?")
            raise ConfigError(f"the query is refused: table function {fn}() cannot be used; "
                              "name governed tables such as curated.events")
        if kind == "BASE_TABLE":
            schema, name = node.get("schema_name") or "", node.get("table_name") or ""
            tables.add(f"{schema}.{name}" if schema else name)
        if cls == "COLUMN_REF":
            columns.update(str(c) for c in node.get("column_names", []))
        if cls == "STAR" or kind == "COLUMNS" or node.get("ref_type") in ("NATURAL", "POSITIONAL"):
            star = True  # every column, or columns chosen by name matching: read them all
        using = node.get("using_columns")
        if isinstance(using, list):
            columns.update(str(c) for c in using)
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            for entry in cte_map.get("map", []):
                if isinstance(entry, dict) and "key" in entry:
                    ctes.add(str(entry["key"]))
        for value in node.values():
            walk(value)

    walk(statements[0])
    return SqlShape(frozenset(tables), None if star else frozenset(columns), frozenset(ctes))


class QueryStopped(ConfigError):
    """A query was stopped before it finished; ``code`` says why (the HTTP error code)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# Their messages quote data (the value that would not convert, the input that was invalid).
_VALUE_ERRORS = (duckdb.ConversionException, duckdb.InvalidInputException, duckdb.OutOfRangeException,
                 duckdb.TypeMismatchException, duckdb.ConstraintException)


class QueryGuard:
    """The time limit and cancellation of one query. Thread-safe; ``cancel`` may come from anywhere."""

    def __init__(self, timeout: float | None = None, memory_mb: int | None = None) -> None:
        self.timeout = timeout
        self.memory_mb = memory_mb
        self._lock = threading.Lock()
        self._reason: str | None = None
        self._interrupts: list[Callable[[], None]] = []
        if timeout is not None:
            _watchdog().watch(time.monotonic() + timeout, self)

    @property
    def reason(self) -> str | None:
        return self._reason

    def cancel(self, reason: str = "query_cancelled") -> None:
        """Stop the query: its running SQL is interrupted, its next step refused. Idempotent."""
        with self._lock:
            if self._reason is not None:
                return
            self._reason = reason
            interrupts = list(self._interrupts)
        for interrupt in interrupts:
            interrupt()

    def check(self) -> None:
        """Raise ``QueryStopped`` if the query was stopped (between its steps)."""
        if self._reason is not None:
            raise self._stopped()

    @contextlib.contextmanager
    def interrupting(self, con: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """While inside, stopping the query interrupts what ``con`` is running."""
        interrupt = con.interrupt  # one bound method: a native one need not compare equal to the next
        with self._lock:
            self._interrupts.append(interrupt)
        try:
            self.check()
            yield
        finally:
            with self._lock:
                self._interrupts = [f for f in self._interrupts if f is not interrupt]

    def failure(self, exc: duckdb.Error) -> ConfigError:
        """What to raise for a DuckDB error: why the query stopped, or a message with no values."""
        if self._reason is not None or isinstance(exc, duckdb.InterruptException):
            return self._stopped()
        if isinstance(exc, duckdb.OutOfMemoryException):
            limit = f" ({self.memory_mb} MiB)" if self.memory_mb else ""
            return QueryStopped("query_memory", f"the query needed more memory than it may use{limit} and was "
                                                "stopped; aggregate, filter or add LIMIT")
        if isinstance(exc, _VALUE_ERRORS):
            return ConfigError(f"query failed: {type(exc).__name__.removesuffix('Exception')} error "
                               "(details withheld: they may quote data values)")
        return ConfigError(f"query failed: {str(exc).splitlines()[0][:500]}")

    def _stopped(self) -> QueryStopped:
        if self._reason == "query_timeout":
            return QueryStopped("query_timeout", f"the query ran longer than {self.timeout:g} s and was stopped")
        if self._reason == "shutting_down":
            return QueryStopped("shutting_down", "the server is stopping; the query was cancelled")
        return QueryStopped("query_cancelled", "the query was cancelled (its client went away)")


_active: contextvars.ContextVar[QueryGuard | None] = contextvars.ContextVar("query_guard", default=None)


@contextlib.contextmanager
def guarding(guard: QueryGuard) -> Iterator[QueryGuard]:
    """Queries the door runs in this context (thread) use ``guard``."""
    token = _active.set(guard)
    try:
        yield guard
    finally:
        _active.reset(token)


def active_guard() -> QueryGuard | None:
    return _active.get()


class _Watchdog:
    """One daemon thread that cancels guards whose time is up (a Timer per query would be a thread each)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, QueryGuard]] = []
        self._cond = threading.Condition()
        self._seq = 0
        threading.Thread(target=self._run, name="query-watchdog", daemon=True).start()

    def watch(self, deadline: float, guard: QueryGuard) -> None:
        with self._cond:
            self._seq += 1
            heapq.heappush(self._heap, (deadline, self._seq, guard))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._cond.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                _, _, guard = heapq.heappop(self._heap)
            guard.cancel("query_timeout")  # a guard whose query finished has nothing left to interrupt


_dog: _Watchdog | None = None
_dog_lock = threading.Lock()


def _watchdog() -> _Watchdog:
    global _dog
    with _dog_lock:
        if _dog is None:
            _dog = _Watchdog()
        return _dog
