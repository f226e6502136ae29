"""What a governed SQL query touches, from DuckDB's own parser (curated zone).

The door reads only the tables and columns a query names — through policy, audit and
decryption — so it must know them before running anything. ``json_serialize_sql`` gives DuckDB's
parse tree: one SELECT statement (anything else is refused), the base tables, the column names
(a ``*`` anywhere means every column of the tables involved), and no table functions (they
could read files behind the door's back; the connection also runs with external access off).

The limits a query runs under are ``jobshadow.govern.limits``.
"""

from __future__ import annotations

import json
import threading
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

