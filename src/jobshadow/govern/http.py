"""The governed query API over HTTP: ``POST /v1/query`` (curated zone, served by the collector).

A principal signs each request with its registered Ed25519 key exactly as devices sign theirs
(``X-Jobshadow-Principal``, ``-Timestamp``, ``-Nonce``, ``-Signature``; see
``jobshadow.protocol.sign_principal_request``). The body is JSON ``{"purpose": …, "sql": …}``;
the answer is ``{"columns": [...], "rows": [[...], ...]}`` or, with ``"format": "arrow"``, an
Arrow IPC stream. The same door as the CLI and the Python API decides, masks, filters and audits.

Status codes: 400 malformed request or query, 401 not (validly) signed, 403 refused by policy,
413 body too large, 422 result larger than ``[govern] query_max_rows``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from jobshadow.config import Settings
from jobshadow.errors import ConfigError
from jobshadow.govern.door import Governance, NotAuthenticated, PolicyDenied, ResultTooLarge

MAX_BODY = 128 * 1024
ARROW_STREAM = "application/vnd.apache.arrow.stream"


class QueryRequest(msgspec.Struct, forbid_unknown_fields=True):
    purpose: str
    sql: str
    format: str = "json"


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


class QueryAPI:
    """Holds the door for the server's lifetime (opened on first use: it loads the lake stack)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._gov: Governance | None = None
        self._lock = threading.Lock()

    def governance(self) -> Governance:
        with self._lock:
            if self._gov is None:
                self._gov = Governance(self.settings)
            return self._gov

    def close(self) -> None:
        with self._lock:
            if self._gov is not None:
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
        try:
            return await run_in_threadpool(self._answer, bytes(body), target, dict(request.headers))
        except NotAuthenticated as exc:
            return _error(401, "not_authenticated", str(exc))
        except PolicyDenied as exc:
            return _error(403, "policy_denied", str(exc))
        except ResultTooLarge as exc:
            return _error(422, "result_too_large", str(exc))
        except ConfigError as exc:
            return _error(400, "bad_query", str(exc))

    def _answer(self, body: bytes, target: str, headers: dict[str, Any]) -> Response:
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
        limit = self.settings.govern.query_max_rows
        table = gov.query(principal, req.purpose, req.sql, max_rows=limit)
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
