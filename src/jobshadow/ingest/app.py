"""The collector's HTTP layer: routes parse, authenticate and delegate to ``CollectorService`` (server).

Every error is ``{"error": {"code": "...", "message": "..."}}`` with a 4xx/5xx status, whatever
raised it (a route, a missing route, an unexpected failure), and never quotes request content.
Bodies are read with a hard size limit before anything else happens; the request signature is
checked over the exact bytes received. Blocking work (database, verification, disk) runs in
worker threads. Access logs are structured and carry no content and no credentials (no bodies,
no signatures). Metrics are not served here: only on ``[server] metrics_port``, on loopback
(``jobshadow.ingest.metrics``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, TypeVar

import anyio.to_thread
import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobshadow.config import Settings
from jobshadow.device_api import ConsentReply, DeviceConfig, UploadState
from jobshadow.errors import RequestRejected
from jobshadow.ingest import schemas
from jobshadow.ingest.metrics import Metrics, MetricsListener
from jobshadow.ingest.service import CollectorService, Device
from jobshadow.protocol import API

log = logging.getLogger("jobshadow.ingest.access")

T = TypeVar("T")
JSON_LIMIT = 64 * 1024
# Worker threads for blocking work (database, verification, disk). More than the cores can use
# only adds GIL hand-offs and context switches; enough are needed to overlap the waits (a group
# commit's fsync, a blob's fsync). Requests beyond this queue on the event loop, not in threads.
WORKER_THREADS = 16


def error(status: int, code: str, message: str, retry_after: float | None = None,
          headers: Mapping[str, str] | None = None) -> JSONResponse:
    out = dict(headers or {})
    if retry_after:
        out["Retry-After"] = str(int(retry_after))
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=out or None)


class ConfigWatch:
    """Wakes long-polling devices when the control-plane version changes (one poller for all)."""

    def __init__(self, service: CollectorService, metrics: Metrics) -> None:
        self.service = service
        self.metrics = metrics
        self.version = 0
        self._changed = asyncio.Event()

    async def run(self) -> None:
        last_scope_check = 0.0
        while True:
            try:
                if time.monotonic() - last_scope_check > 2.0:
                    # Expiring reviews deactivate scopes on read; this read makes it happen on time.
                    await anyio.to_thread.run_sync(self.service.active_scope)
                    last_scope_check = time.monotonic()
                v = await anyio.to_thread.run_sync(self.service.config_version)
            except Exception:  # the database may be briefly locked; try again
                log.debug("config version poll failed", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            self.metrics.config_version.set(v)
            if v != self.version:
                self.version = v
                event, self._changed = self._changed, asyncio.Event()
                event.set()
            await asyncio.sleep(0.25)

    async def wait(self, timeout: float) -> bool:
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True


async def read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None:
        try:
            if int(length) > limit:
                raise RequestRejected(413, "too_large", f"body larger than {limit} bytes")
        except ValueError:
            raise RequestRejected(400, "bad_length", "malformed Content-Length") from None
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestRejected(413, "too_large", f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def target_of(request: Request) -> str:
    raw = request.scope.get("raw_path") or request.url.path.encode()
    qs = request.scope.get("query_string") or b""
    return (raw + (b"?" + qs if qs else b"")).decode("latin-1")


def body_response(body: msgspec.Struct, *, status_code: int = 200,
                  headers: Mapping[str, str] | None = None) -> Response:
    """An answer body (``jobshadow.device_api``) as the JSON response the device decodes."""
    return Response(msgspec.json.encode(body), status_code=status_code, headers=headers,
                    media_type="application/json")


def upload_response(state: Mapping[str, Any], *, status_code: int = 200) -> Response:
    """An upload's state, checked against the shared ``UploadState`` the device decodes it into."""
    return body_response(msgspec.convert(state, UploadState), status_code=status_code)


def decode(body: bytes, typ: type[Any]) -> Any:
    if not body:
        raise RequestRejected(400, "empty_body", "a JSON body is required")
    try:
        return msgspec.json.decode(body, type=typ)
    except msgspec.ValidationError as exc:
        raise RequestRejected(400, "invalid_body", str(exc)[:300]) from None
    except msgspec.DecodeError:
        raise RequestRejected(400, "invalid_json", "body is not valid JSON") from None


def create_app(settings: Settings, service: CollectorService | None = None, *,
               max_in_flight: int | None = None, extra_routes: Sequence[BaseRoute] = (),
               on_shutdown: Sequence[Callable[[], None]] = ()) -> Starlette:
    """The collector app; ``max_in_flight`` caps requests held at once (held long polls included).

    ``extra_routes`` are served beside the collector's (the server mounts the governed query API
    there); ``on_shutdown`` callables run in a worker thread when the app stops.
    """
    svc = service or CollectorService(settings, committer=True)
    metrics = Metrics()
    watch = ConfigWatch(svc, metrics)
    max_chunk = settings.server.max_chunk_bytes

    async def signed(request: Request, limit: int, work: Callable[[Device, bytes], T]) -> T:
        """Read the body, then authenticate and run ``work`` in one trip to a worker thread.

        Hashing the body and checking the signature happen off the event loop, and each request
        costs one thread hand-off, not two.
        """
        body = await read_body(request, limit)
        method, target = request.method, target_of(request)
        headers = {k.lower(): v for k, v in request.headers.items()}

        def run() -> T:
            body_sha256 = hashlib.sha256(body).hexdigest()
            device = svc.authenticate(method, target, body_sha256, headers)
            request.state.device_id = device.id
            request.state.body_sha256 = body_sha256  # a one-request upload's payload hash
            return work(device, body)

        return await anyio.to_thread.run_sync(run)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def openapi(request: Request) -> Response:
        return JSONResponse(schemas.openapi())

    async def enroll(request: Request) -> Response:
        body = await read_body(request, JSON_LIMIT)
        req = decode(body, schemas.EnrollRequest)
        out = await anyio.to_thread.run_sync(svc.enroll, req.code, bytes.fromhex(req.public_key), req.name)
        return body_response(out, status_code=201)

    async def device_config(request: Request) -> Response:
        device, current = await signed(request, JSON_LIMIT, lambda d, _: (d, svc.device_config(d)))
        cfg: DeviceConfig | None = current
        try:
            wait = float(request.query_params.get("wait", "0"))
        except ValueError:
            raise RequestRejected(400, "invalid_wait", "wait must be a number of seconds") from None
        wait = max(0.0, min(wait, float(settings.server.long_poll)))
        known = request.headers.get("if-none-match", "").strip('"')
        deadline = time.monotonic() + wait
        while True:
            if cfg is None:
                cfg = await anyio.to_thread.run_sync(svc.device_config, device)
            if cfg.etag != known:
                return body_response(cfg, headers={"ETag": f'"{cfg.etag}"'})
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not await watch.wait(remaining):
                return Response(status_code=304, headers={"ETag": f'"{cfg.etag}"'})
            cfg = None

    async def device_consent(request: Request) -> Response:
        def work(device: Device, body: bytes) -> str:
            req = decode(body, schemas.ConsentRequest)
            svc.report_consent(device, req.state)
            return str(req.state)

        state = await signed(request, JSON_LIMIT, work)
        return body_response(ConsentReply(True, state))

    async def begin_upload(request: Request) -> Response:
        def work(device: Device, body: bytes) -> dict[str, Any]:
            req = decode(body, schemas.BeginUploadRequest)
            return svc.begin_upload(device, req.content_hash, req.payload_sha256, req.size, req.segment_id)

        out = await signed(request, JSON_LIMIT, work)
        return upload_response(out, status_code=201 if out["state"] == "open" and out["received"] == 0 else 200)

    async def upload(request: Request) -> Response:
        upload_id = request.path_params["upload_id"]
        if request.method == "GET":
            return upload_response(await signed(request, JSON_LIMIT, lambda d, _: svc.upload_status(d, upload_id)))

        def put(device: Device, body: bytes) -> dict[str, Any]:
            try:
                offset = int(request.query_params["offset"])
            except (KeyError, ValueError):
                raise RequestRejected(400, "invalid_offset",
                                      "offset query parameter (an integer) is required") from None
            if offset < 0:
                raise RequestRejected(400, "invalid_offset", "offset cannot be negative")
            out = svc.put_chunk(device, upload_id, offset, body)
            metrics.bytes_in.inc(len(body))
            return out

        return upload_response(await signed(request, max_chunk, put))

    async def landed(result: concurrent.futures.Future[dict[str, Any]] | dict[str, Any]) -> Response:
        if not isinstance(result, dict):
            try:
                result = await asyncio.wait_for(asyncio.wrap_future(result), timeout=60)
            except TimeoutError:
                raise RequestRejected(503, "commit_pending", "landing commit still pending; retry",
                                      retry_after=5) from None
        metrics.landed.inc()
        return upload_response(result)

    async def complete(request: Request) -> Response:
        upload_id = request.path_params["upload_id"]
        return await landed(await signed(request, JSON_LIMIT, lambda d, _: svc.complete_upload(d, upload_id)))

    async def put_segment(request: Request) -> Response:
        content_hash = request.path_params["content_hash"]
        segment_id = request.query_params.get("segment_id", "")

        def work(device: Device, body: bytes) -> concurrent.futures.Future[dict[str, Any]] | dict[str, Any]:
            out = svc.put_segment(device, content_hash, segment_id, body, request.state.body_sha256)
            metrics.bytes_in.inc(len(body))
            return out

        return await landed(await signed(request, max_chunk, work))

    routes = [
        Route("/healthz", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route(f"{API}/enroll", enroll, methods=["POST"]),
        Route(f"{API}/device/config", device_config, methods=["GET"]),
        Route(f"{API}/device/consent", device_consent, methods=["POST"]),
        Route(f"{API}/uploads", begin_upload, methods=["POST"]),
        Route(f"{API}/uploads/{{upload_id}}", upload, methods=["GET", "PUT"]),
        Route(f"{API}/uploads/{{upload_id}}/complete", complete, methods=["POST"]),
        Route(f"{API}/segments/{{content_hash}}", put_segment, methods=["PUT"]),
        *extra_routes,
    ]

    async def on_rejected(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestRejected)
        metrics.rejected.labels(exc.code).inc()
        return error(exc.status, exc.code, str(exc), exc.retry_after)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error(exc.status_code, code, str(exc.detail), headers=exc.headers)

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__,
                  exc_info=exc)
        return error(500, "internal_error", "the collector failed on this request; it has been logged")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
        port = settings.server.metrics_port
        listener = MetricsListener(port, metrics.exposition) if port else None
        tasks = [asyncio.create_task(watch.run()), asyncio.create_task(_prune(svc))]
        try:
            yield
        finally:
            if listener is not None:
                listener.close()
            for t in tasks:
                t.cancel()
            for close in on_shutdown:
                await anyio.to_thread.run_sync(close)
            if service is None:
                await anyio.to_thread.run_sync(svc.close)
            metrics.close()

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={RequestRejected: on_rejected, HTTPException: on_http, Exception: on_crash})
    if max_in_flight is not None:
        app.add_middleware(Admission, limit=max_in_flight, metrics=metrics)
    app.add_middleware(AccessLog, metrics=metrics)  # outermost: refusals are logged too
    app.state.service = svc
    app.state.metrics = metrics

    return app


class AccessLog:
    """Pure ASGI middleware: one structured log line and metrics per request, no content."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            elapsed = time.perf_counter() - start
            self.metrics.requests.labels(name, str(status[0])).inc()
            self.metrics.latency.labels(name).observe(elapsed)
            state = scope.get("state") or {}
            log.info("request", extra={"fields": {
                "method": scope.get("method"), "route": name, "status": status[0],
                "ms": round(elapsed * 1000, 1), "device": state.get("device_id")}})


class Admission:
    """Pure ASGI middleware: at most ``limit`` requests in flight; beyond, an explicit refusal.

    A refused request gets ``503 {"error": {"code": "overloaded"}}`` with ``Retry-After`` (the
    device's client backs off and retries), is counted in ``jobshadow_rejections_total`` and logged
    (at most one warning per ``log_every`` seconds). The limit comes from the process's file
    descriptors (``jobshadow server start``); without it, uvicorn's own limit would answer with a
    bare text 503, and past the descriptors ``accept`` would fail outright.
    """

    def __init__(self, app: ASGIApp, limit: int, metrics: Metrics, retry_after: float = 10.0,
                 log_every: float = 10.0) -> None:
        self.app = app
        self.limit = limit
        self.metrics = metrics
        self.retry_after = retry_after
        self.log_every = log_every
        self.in_flight = 0
        self.refused = 0
        self._logged_at = -float("inf")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            self.refused += 1
            self.metrics.rejected.labels("overloaded").inc()
            now = time.monotonic()
            if now - self._logged_at >= self.log_every:
                self._logged_at = now
                log.warning("refusing requests: %d in flight (limit %d); %d refused so far", self.in_flight,
                            self.limit, self.refused)
            # Jitter spreads the retries of a crowd refused at the same moment.
            retry = self.retry_after * random.uniform(1.0, 2.0)
            await error(503, "overloaded", f"the collector is holding {self.limit} requests; retry later",
                        retry_after=retry)(scope, receive, send)
            return
        self.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.dec()


async def _prune(svc: CollectorService) -> None:
    while True:
        await asyncio.sleep(60)
        with contextlib.suppress(Exception):
            await anyio.to_thread.run_sync(svc.prune_nonces)
            await anyio.to_thread.run_sync(svc.expire_uploads)
