"""The governed query API over HTTP: ``POST /v1/query`` (curated zone, served by the collector).

A principal signs each request with its registered Ed25519 key exactly as devices sign theirs
(``X-Jobshadow-Principal``, ``-Timestamp``, ``-Nonce``, ``-Signature``; see
``jobshadow.protocol.sign_principal_request``). The body is JSON ``{"purpose": …, "sql": …}``;
the answer is ``{"columns": [...], "rows": [[...], ...]}`` or, with ``"format": "arrow"``, an
Arrow IPC stream. The same door as the CLI and the Python API decides, masks, filters and audits.

Every error is ``{"error": {"code": …, "message": …}}`` (as the collector's), never with data
values in it: 400 ``bad_query`` (malformed request or SQL), 401 ``not_authenticated``, 403
``policy_denied``, 413 ``body_too_large``, 422 ``result_too_large`` (more than ``[govern]
query_max_rows``), ``query_timeout`` or ``query_memory`` (past ``[govern] query_timeout`` or
``query_memory_mb``), 503 ``shutting_down``, 500 ``internal_error`` (logged by type, and audited
as a refusal of that principal's query, since it concerns governed data).

Each query runs under a ``QueryGuard``: it is interrupted when its time is up, when its client
disconnects (the request's ``http.disconnect`` is awaited beside the query), and when the server
stops (uvicorn cancels the request, or ``close`` cancels every query still running), so neither a
runaway query nor a departed client keeps a core busy or holds up SIGTERM.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from jobshadow.config import Settings
from jobshadow.errors import ConfigError, JobshadowError
from jobshadow.govern.door import Governance, NotAuthenticated, PolicyDenied, ResultTooLarge
from jobshadow.govern.limits import QueryGuard, QueryStopped, guarding

log = logging.getLogger(__name__)
MAX_BODY = 128 * 1024
STOPPED = {"query_timeout": 422, "query_memory": 422, "query_cancelled": 499, "shutting_down": 503}
ARROW_STREAM = "application/vnd.apache.arrow.stream"


class QueryRequest(msgspec.Struct, forbid_unknown_fields=True):
    purpose: str
    sql: str
    format: str = "json"


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _respond(exc: Exception) -> JSONResponse:
    """The answer for an error (order matters: the classes nest)."""
    if isinstance(exc, NotAuthenticated):
        return _error(401, "not_authenticated", str(exc))
    if isinstance(exc, PolicyDenied):
        return _error(403, "policy_denied", str(exc))
    if isinstance(exc, ResultTooLarge):
        return _error(422, "result_too_large", str(exc))
    if isinstance(exc, QueryStopped):
        return _error(STOPPED.get(exc.code, 422), exc.code, str(exc))
    if isinstance(exc, ConfigError):
        return _error(400, "bad_query", str(exc))
    log.error("query failed: %s", type(exc).__name__, exc_info=exc)
    return _error(500, "internal_error", "the server failed on this query; it was logged and audited")


async def _disconnected(request: Request) -> None:
    """Returns when the client goes away (the body was read: only a disconnect can come now)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


class QueryAPI:
    """Holds the door for the server's lifetime (opened on first use: it loads the lake stack)."""

    def __init__(self, settings: Settings, *, governance: Governance | None = None,
                 authorize: Callable[[Governance, str, str], None] | None = None) -> None:
        """``governance``: a door the caller owns (it is not closed here); ``authorize(gov,
        principal, purpose)`` refuses (``PolicyDenied``, audited) a principal whose roles do not
        allow queries for that purpose (``jobshadow.api``)."""
        self.settings = settings
        self._gov: Governance | None = governance
        self._owned = governance is None
        self.authorize = authorize
        self._lock = threading.Lock()
        self._running: set[QueryGuard] = set()

    def governance(self) -> Governance:
        with self._lock:
            if self._gov is None:
                self._gov = Governance(self.settings)
            return self._gov

    def cancel_all(self, reason: str = "shutting_down") -> None:
        """Stop every query still running (the server is stopping)."""
        with self._lock:
            running = list(self._running)
        for guard in running:
            guard.cancel(reason)

    def close(self) -> None:
        self.cancel_all()
        with self._lock:
            if self._gov is not None and self._owned:
                self._gov.close()
                self._gov = None

    async def query(self, request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
            return _error(413, "body_too_large", f"the request body is limited to {MAX_BODY} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return _error(413, "body_too_large", f"the request body is limited to {MAX_BODY} bytes")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        g = self.settings.govern
        guard = QueryGuard(float(g.query_timeout), g.query_memory_mb)
        with self._lock:
            self._running.add(guard)
        work = asyncio.ensure_future(run_in_threadpool(self._answer, bytes(body), target, dict(request.headers),
                                                       guard))
        gone = asyncio.ensure_future(_disconnected(request))
        try:
            await asyncio.wait((work, gone), return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                guard.cancel("query_cancelled")  # nobody is waiting for the answer
            return await work
        except asyncio.CancelledError:
            guard.cancel("shutting_down")  # uvicorn gave up on the request: the server is stopping
            raise
        except Exception as exc:  # a request boundary: every error is a JSON answer
            return _respond(exc)
        finally:
            gone.cancel()
            with self._lock:
                self._running.discard(guard)

    def _answer(self, body: bytes, target: str, headers: dict[str, Any], guard: QueryGuard | None = None) -> Response:
        gov = self.governance()
        principal = gov.authenticate("POST", target, hashlib.sha256(body).hexdigest(), headers)
        try:
            req = msgspec.json.decode(body, type=QueryRequest)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"invalid request: {exc}") from None
        except msgspec.DecodeError:
            raise ConfigError("the body is not JSON") from None
        if req.format not in ("json", "arrow"):
            raise ConfigError("format is 'json' or 'arrow'")
        if self.authorize is not None:
            self.authorize(gov, principal, req.purpose)
        limit = self.settings.govern.query_max_rows
        try:
            with guarding(guard or QueryGuard(float(self.settings.govern.query_timeout))):
                table = gov.query(principal, req.purpose, req.sql, max_rows=limit)
        except JobshadowError:
            raise  # decided and audited by the door
        except Exception as exc:  # a failure inside the door: audited as a refusal, then a 500
            gov.audit([gov._record(principal, "query", "sql", req.purpose, False, ("internal-error",),
                                   f"internal_error: {type(exc).__name__}")])
            raise
        if req.format == "arrow":
            import pyarrow as pa

            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, table.schema) as w:
                w.write_table(table)
            return Response(sink.getvalue().to_pybytes(), media_type=ARROW_STREAM)
        rows = [list(r.values()) for r in table.to_pylist()]
        text = json.dumps({"columns": table.column_names, "rows": rows}, default=str, ensure_ascii=False)
        return Response(text, media_type="application/json")

    def routes(self, prefix: str = "/v1") -> list[Route]:
        return [Route(f"{prefix}/query", self.query, methods=["POST"])]
