"""Turn audit query filters into one indexed SQL statement (curated zone / governance).

Filters match the indexed copies of record fields in ``leaves``; only constant SQL fragments are
concatenated and every value is a bound parameter. The caller decodes the returned leaf bytes, so
results are the authenticated records even though the filtering is not (``verify_log`` checks that
the copies agree with the leaves).
"""

from __future__ import annotations

from datetime import datetime

from jobshadow.govern.audit.errors import AuditRecordError
from jobshadow.govern.audit.record import DECISIONS, format_time, parse_time


def build_query(
    *,
    resource_prefix: str | None = None,
    subject: str | None = None,
    since: datetime | str | None = None,
    principal: str | None = None,
    decision: str | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> tuple[str, list[object]]:
    """``(sql, params)`` selecting ``(idx, leaf)`` rows; raises ``AuditRecordError`` for bad filters.

    ``since`` (an aware datetime, or a record time string) is inclusive; record times are fixed
    width, so string order is time order.
    """
    clauses: list[str] = []
    params: list[object] = []
    if resource_prefix:
        clauses.append("resource >= ?")
        params.append(resource_prefix)
        upper = prefix_end(resource_prefix)
        if upper is not None:
            clauses.append("resource < ?")
            params.append(upper)
    if subject is not None:
        clauses.append("subject = ?")
        params.append(subject)
    if since is not None:
        if isinstance(since, datetime):
            params.append(format_time(since))
        else:
            parse_time(since)
            params.append(since)
        clauses.append("time >= ?")
    if principal is not None:
        clauses.append("principal = ?")
        params.append(principal)
    if decision is not None:
        if decision not in DECISIONS:
            raise AuditRecordError("decision filter must be 'allow' or 'deny'")
        clauses.append("decision = ?")
        params.append(decision)
    sql = "SELECT idx, leaf FROM leaves"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY idx DESC" if newest_first else " ORDER BY idx"
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise AuditRecordError("limit must be a non-negative integer")
        sql += " LIMIT ?"
        params.append(limit)
    return sql, params


def prefix_end(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (None: no bound).

    SQLite compares TEXT as UTF-8 bytes, and UTF-8 byte order is code point order, so
    ``prefix <= s < prefix_end(prefix)`` is exactly "s starts with prefix" and uses the index.
    """
    chars = list(prefix)
    while chars:
        code = ord(chars[-1])
        if code < 0x10FFFF:
            code += 1
            if 0xD800 <= code <= 0xDFFF:  # surrogates cannot be stored; skip to the next scalar
                code = 0xE000
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None
