"""The collector's HTTP layer: routes parse, authenticate and delegate to ``CollectorService`` (server).

Every error is ``{"error": {"code": "...", "message": "..."}}`` with a 4xx/5xx status. Bodies are
read with a hard size limit before anything else happens; the request signature is checked over
the exact bytes received. Blocking work (database, verification, disk) runs in worker threads.
Access logs are structured and carry no content and no credentials (no bodies, no signatures).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
import msgspec
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobshadow.config import Settings
from jobshadow.errors import RequestRejected
from jobshadow.ingest import schemas
from jobshadow.ingest.service import CollectorService, Device
from jobshadow.protocol import API

log = logging.getLogger("jobshadow.ingest.access")

JSON_LIMIT = 64 * 1024


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("jobshadow_requests_total", "HTTP requests", ["route", "status"],
                                registry=self.registry)
        self.latency = Histogram("jobshadow_request_seconds", "request latency", ["route"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.bytes_in = Counter("jobshadow_upload_bytes_total", "upload bytes received", registry=self.registry)
        self.landed = Counter("jobshadow_segments_landed_total", "segments landed", registry=self.registry)
        self.rejected = Counter("jobshadow_rejections_total", "requests refused", ["code"], registry=self.registry)
        self.config_version = Gauge("jobshadow_config_version", "control-plane version", registry=self.registry)


def error(status: int, code: str, message: str, retry_after: float | None = None) -> JSONResponse:
    headers = {"Retry-After": str(int(retry_after))} if retry_after else None
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


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


def decode(body: bytes, typ: type[Any]) -> Any:
    if not body:
        raise RequestRejected(400, "empty_body", "a JSON body is required")
    try:
        return msgspec.json.decode(body, type=typ)
    except msgspec.ValidationError as exc:
        raise RequestRejected(400, "invalid_body", str(exc)[:300]) from None
    except msgspec.DecodeError:
        raise RequestRejected(400, "invalid_json", "body is not valid JSON") from None


def create_app(settings: Settings, service: CollectorService | None = None) -> Starlette:
    svc = service or CollectorService(settings, committer=True)
    metrics = Metrics()
    watch = ConfigWatch(svc, metrics)
    max_chunk = settings.server.max_chunk_bytes

    async def authed(request: Request, limit: int) -> tuple[Device, bytes]:
        body = await read_body(request, limit)
        digest = hashlib.sha256(body).hexdigest()
        headers = {k.lower(): v for k, v in request.headers.items()}
        device = await anyio.to_thread.run_sync(svc.authenticate, request.method, target_of(request), digest, headers)
        request.state.device_id = device.id
        return device, body

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def metrics_route(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def openapi(request: Request) -> Response:
        return JSONResponse(schemas.openapi())

    async def enroll(request: Request) -> Response:
        body = await read_body(request, JSON_LIMIT)
        req = decode(body, schemas.EnrollRequest)
        out = await anyio.to_thread.run_sync(svc.enroll, req.code, bytes.fromhex(req.public_key), req.name)
        return JSONResponse(out, status_code=201)

    async def device_config(request: Request) -> Response:
        device, _ = await authed(request, JSON_LIMIT)
        try:
            wait = float(request.query_params.get("wait", "0"))
        except ValueError:
            raise RequestRejected(400, "invalid_wait", "wait must be a number of seconds") from None
        wait = max(0.0, min(wait, float(settings.server.long_poll)))
        known = request.headers.get("if-none-match", "").strip('"')
        deadline = time.monotonic() + wait
        while True:
            cfg = await anyio.to_thread.run_sync(svc.device_config, device)
            if cfg["etag"] != known:
                return JSONResponse(cfg, headers={"ETag": f'"{cfg["etag"]}"'})
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not await watch.wait(remaining):
                return Response(status_code=304, headers={"ETag": f'"{cfg["etag"]}"'})

    async def device_consent(request: Request) -> Response:
        device, body = await authed(request, JSON_LIMIT)
        req = decode(body, schemas.ConsentRequest)
        await anyio.to_thread.run_sync(svc.set_consent, device.person_id, req.state, "device")
        return JSONResponse({"ok": True, "state": req.state})

    async def begin_upload(request: Request) -> Response:
        device, body = await authed(request, JSON_LIMIT)
        req = decode(body, schemas.BeginUploadRequest)
        out = await anyio.to_thread.run_sync(svc.begin_upload, device, req.content_hash, req.payload_sha256,
                                             req.size, req.segment_id)
        return JSONResponse(out, status_code=201 if out["state"] == "open" and out["received"] == 0 else 200)

    async def upload(request: Request) -> Response:
        upload_id = request.path_params["upload_id"]
        if request.method == "GET":
            device, _ = await authed(request, JSON_LIMIT)
            return JSONResponse(await anyio.to_thread.run_sync(svc.upload_status, device, upload_id))
        device, body = await authed(request, max_chunk)
        try:
            offset = int(request.query_params["offset"])
        except (KeyError, ValueError):
            raise RequestRejected(400, "invalid_offset", "offset query parameter (an integer) is required") from None
        if offset < 0:
            raise RequestRejected(400, "invalid_offset", "offset cannot be negative")
        out = await anyio.to_thread.run_sync(svc.put_chunk, device, upload_id, offset, body)
        metrics.bytes_in.inc(len(body))
        return JSONResponse(out)

    async def complete(request: Request) -> Response:
        device, _ = await authed(request, JSON_LIMIT)
        result = await anyio.to_thread.run_sync(svc.complete_upload, device, request.path_params["upload_id"])
        if not isinstance(result, dict):
            try:
                result = await asyncio.wait_for(asyncio.wrap_future(result), timeout=60)
            except TimeoutError:
                raise RequestRejected(503, "commit_pending", "landing commit still pending; retry",
                                      retry_after=5) from None
        metrics.landed.inc()
        return JSONResponse(result)

    routes = [
        Route("/healthz", health, methods=["GET"]),
        Route("/metrics", metrics_route, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route(f"{API}/enroll", enroll, methods=["POST"]),
        Route(f"{API}/device/config", device_config, methods=["GET"]),
        Route(f"{API}/device/consent", device_consent, methods=["POST"]),
        Route(f"{API}/uploads", begin_upload, methods=["POST"]),
        Route(f"{API}/uploads/{{upload_id}}", upload, methods=["GET", "PUT"]),
        Route(f"{API}/uploads/{{upload_id}}/complete", complete, methods=["POST"]),
    ]

    async def on_rejected(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestRejected)
        metrics.rejected.labels(exc.code).inc()
        return error(exc.status, exc.code, str(exc), exc.retry_after)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error(exc.status_code, code, str(exc.detail))

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__,
                  exc_info=exc)
        return error(500, "internal_error", "the collector failed on this request; it has been logged")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(watch.run()), asyncio.create_task(_prune(svc))]
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            if service is None:
                await anyio.to_thread.run_sync(svc.close)

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={RequestRejected: on_rejected, HTTPException: on_http, Exception: on_crash})
    app.add_middleware(AccessLog, metrics=metrics)
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


async def _prune(svc: CollectorService) -> None:
    while True:
        await asyncio.sleep(60)
        with contextlib.suppress(Exception):
            await anyio.to_thread.run_sync(svc.prune_nonces)
            await anyio.to_thread.run_sync(svc.expire_uploads)
