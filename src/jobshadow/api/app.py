"""The door's HTTP app: login, signed operations, governed queries (door process).

Routes:

* ``POST /v1/login`` — ``{"code", "public_key"}``: redeem a one-time login code (from ``server init``
  or ``admin invite``), register the person's Ed25519 key; answers their principal and roles;
* ``POST /v1/door/{operation}`` — a JSON object of arguments, signed by a logged-in person
  (``X-Jobshadow-Principal``, ``-Timestamp``, ``-Nonce``, ``-Signature``, as devices sign theirs);
  answers JSON, or a tar stream for a subject export;
* ``POST /v1/query`` — the governed query API (``jobshadow.govern.http``), for researchers (and
  auditors, for ``privacy_audit``);
* ``GET /healthz``.

Errors are ``{"error": {"code": …, "message": …}}`` with a 4xx/5xx status; every refusal is in
the audit log with who asked (``unauthenticated`` when nobody could be verified). Messages name
people, tables and purposes, never data.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from jobshadow.api.ops import Ctx, Stream, dispatch, load_all
from jobshadow.config import Settings
from jobshadow.errors import JobshadowError, RequestRejected
from jobshadow.govern import Governance, NotAuthenticated, PolicyDenied, QueryAPI, ResultTooLarge

log = logging.getLogger("jobshadow.api")

MAX_BODY = 1 << 20
UNAUTHENTICATED = "unauthenticated"


class Login(msgspec.Struct, forbid_unknown_fields=True):
    code: str
    public_key: str


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def authorize_query(gov: Governance, principal: str, purpose: str) -> None:
    """Queries are for researchers (within their grants), for auditors for ``privacy_audit``, and for
    anyone about themselves (``subject_access``: the door returns only the asker's own rows)."""
    roles = gov.duties.roles_of(principal)
    if ("researcher" in roles or ("auditor" in roles and purpose == "privacy_audit")
            or purpose == "subject_access"):
        return
    gov.audit([gov._record(principal, "query", "sql", purpose, False, ("roles",),
                           "role required: researcher (or auditor, for privacy_audit)",
                           detail={"roles": ",".join(sorted(roles)) or "none"})])
    raise PolicyDenied(f"{principal} may not query for {purpose}: the researcher role is needed "
                       "(auditors: privacy_audit only)")


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise RequestRejected(413, "too_large", f"the request body is limited to {MAX_BODY} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise RequestRejected(413, "too_large", f"the request body is limited to {MAX_BODY} bytes")
    return bytes(body)


def create_door_app(settings: Settings, gov: Governance | None = None) -> Starlette:
    """The door's app; ``gov``: a door the caller owns (else one is opened here and closed on stop)."""
    load_all()
    door = gov or Governance(settings)
    queries = QueryAPI(settings, governance=door, authorize=authorize_query)

    def refused(principal: str, action: str, exc: Exception, code: str) -> None:
        if isinstance(exc, JobshadowError) and exc.audited:
            return
        door.audit([door._record(principal, action, f"door:{action}", "governance", False, (),
                                 f"{code}: {str(exc)[:500]}")])

    def run(name: str, body: bytes, target: str, headers: dict[str, str]) -> Any:
        try:
            principal = door.authenticate("POST", target, hashlib.sha256(body).hexdigest(), headers)
        except NotAuthenticated as exc:
            refused(UNAUTHENTICATED, name, exc, exc.code)
            raise
        ctx = Ctx(door, settings, principal, door.duties.roles_of(principal))
        try:
            return dispatch(ctx, name, body)
        except RequestRejected as exc:
            refused(principal, name, exc, exc.code)
            raise
        except (PolicyDenied, JobshadowError) as exc:
            refused(principal, name, exc, "refused")
            raise

    async def operation(request: Request) -> Response:
        name = request.path_params["name"]
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        try:
            body = await _body(request)
            result = await run_in_threadpool(run, name, body, target, {k.lower(): v for k, v in
                                                                       request.headers.items()})
        except Exception as exc:  # request boundary: one answer per failure class
            return answer_error(exc, name)
        if isinstance(result, Stream):
            return StreamingResponse(iterate_in_threadpool(result.chunks), media_type=result.media_type,
                                     headers=result.headers)
        return Response(json.dumps({"result": result}, default=str, ensure_ascii=False),
                        media_type="application/json")

    def do_login(body: bytes) -> dict[str, Any]:
        try:
            req = msgspec.json.decode(body, type=Login)
        except (msgspec.ValidationError, msgspec.DecodeError):
            raise RequestRejected(400, "invalid_body", "a login is {\"code\": …, \"public_key\": …}") from None
        try:
            principal, roles = door.duties.redeem(req.code, req.public_key)
        except RequestRejected as exc:
            refused(UNAUTHENTICATED, "login", exc, exc.code)
            raise
        door._administer(principal, "person.login", principal, {"roles": ",".join(roles)})
        return {"principal": principal, "roles": roles}

    async def login(request: Request) -> Response:
        try:
            out = await run_in_threadpool(do_login, await _body(request))
        except Exception as exc:  # request boundary
            return answer_error(exc, "login")
        return JSONResponse(out)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await run_in_threadpool(queries.close)  # stops queries still running
            if gov is None:
                await run_in_threadpool(door.close)

    routes = [Route("/healthz", health, methods=["GET"]),
              Route("/v1/login", login, methods=["POST"]),
              Route("/v1/door/{name}", operation, methods=["POST"]),
              *queries.routes()]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.governance = door
    app.state.query_api = queries
    return app


def answer_error(exc: Exception, name: str) -> JSONResponse:
    """The answer to a failed request: a status and a code; content never leaves in a message."""
    if isinstance(exc, RequestRejected):
        return error(exc.status, exc.code, str(exc))
    if isinstance(exc, NotAuthenticated):
        return error(401, exc.code, str(exc))
    if isinstance(exc, PolicyDenied):
        return error(403, "refused", str(exc))
    if isinstance(exc, ResultTooLarge):
        return error(422, "result_too_large", str(exc))
    if isinstance(exc, JobshadowError):
        return error(400, "refused", str(exc))
    log.error("internal error in %s: %s", name, type(exc).__name__, exc_info=exc)
    return error(500, "internal_error", "the door failed on this request; it has been logged")
