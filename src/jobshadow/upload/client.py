"""A small signed HTTP client for the collector (device zone).

The standard library's ``http.client`` keeps the always-on recorder process light (no extra HTTP
stack in every laptop's memory); one keep-alive connection per client, re-opened on failure.
Failures are classified once, here: ``Transient`` (network errors, 408/425/429/5xx — retry with
backoff, honouring Retry-After) or ``RequestRejected`` (other 4xx — retrying cannot help).
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.parse
from typing import TYPE_CHECKING, Any

import msgspec

from jobshadow.device_api import (
    A,
    ConsentRequest,
    DeviceConfig,
    EnrollRequest,
    EnrollResponse,
    ErrorBody,
    decode_answer,
)
from jobshadow.errors import RequestRejected, StateError, Transient
from jobshadow.protocol import API, sign_request

if TYPE_CHECKING:
    from jobshadow.upload.identity import DeviceIdentity

TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}


class CollectorClient:
    def __init__(self, server_url: str, identity: DeviceIdentity | None = None, timeout: float = 30.0) -> None:
        parsed = urllib.parse.urlsplit(server_url)
        self._https = parsed.scheme == "https"
        self._host = parsed.hostname or "127.0.0.1"
        self._port = parsed.port or (443 if self._https else 80)
        self._base = parsed.path.rstrip("/")
        self.identity = identity
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> CollectorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._https:
                self._conn = http.client.HTTPSConnection(self._host, self._port, timeout=timeout,
                                                         context=ssl.create_default_context())
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        self._conn.timeout = timeout
        if self._conn.sock is not None:
            self._conn.sock.settimeout(timeout)
        return self._conn

    def request(self, method: str, path: str, body: bytes = b"", *, query: str = "",
                headers: dict[str, str] | None = None, signed: bool = True,
                timeout: float | None = None) -> tuple[int, dict[str, str], bytes]:
        target = f"{self._base}{path}" + (f"?{query}" if query else "")
        ctype = "application/octet-stream" if method == "PUT" else "application/json"
        hdrs = {"Content-Type": ctype, **(headers or {})}
        if signed:
            if self.identity is None:
                raise StateError("this device is not enrolled (jobshadow device enroll)")
            hdrs.update(sign_request(self.identity.key, self.identity.device_id, method, target, body))
        for attempt in (1, 2):
            conn = self._connection(timeout or self.timeout)
            try:
                conn.request(method, target, body=body, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
                out_headers = {k.lower(): v for k, v in resp.getheaders()}
                if resp.will_close:
                    self.close()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if attempt == 2:
                    raise Transient(f"connection to the collector lost ({type(exc).__name__})") from None
                # A stale keep-alive connection: the request was not processed; re-send once. Signed
                # requests are re-signed so the retry does not look like a replay.
                if signed and self.identity is not None:
                    hdrs.update(sign_request(self.identity.key, self.identity.device_id, method, target, body))
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise Transient(f"cannot reach the collector ({type(exc).__name__}: {exc})") from None
        status = resp.status
        if status in TRANSIENT_STATUS:
            retry = out_headers.get("retry-after")
            code, message = _error(data)
            raise Transient(f"collector answered {status} {code}: {message}",
                            retry_after=float(retry) if retry and retry.isdigit() else None)
        if status >= 400:
            code, message = _error(data)
            raise RequestRejected(status, code, message)
        return status, out_headers, data

    def json(self, method: str, path: str, payload: Any = None, *, body_bytes: bytes | None = None,
             **kw: Any) -> tuple[int, dict[str, str], Any]:
        """A request whose reply is JSON; the body is ``payload`` as JSON, or raw ``body_bytes``."""
        body = body_bytes if body_bytes is not None else (json.dumps(payload).encode() if payload is not None else b"")
        status, headers, data = self.request(method, path, body, **kw)
        return status, headers, (json.loads(data) if data else None)

    def answer(self, typ: type[A], method: str, path: str, body: msgspec.Struct | bytes | None = None,
               **kw: Any) -> A:
        """A request whose reply is the shared answer struct ``typ`` (``jobshadow.device_api``).

        A reply that is not one is ``Transient``: the collector is misbehaving, and the call is
        retried with backoff like any other failure that may pass.
        """
        raw = body if isinstance(body, bytes) else (msgspec.json.encode(body) if body is not None else b"")
        _, _, data = self.request(method, path, raw, **kw)
        return _decode(data, typ)

    # --- API --------------------------------------------------------------------------------------
    def enroll(self, code: str, public_key_hex: str, name: str) -> EnrollResponse:
        return self.answer(EnrollResponse, "POST", f"{API}/enroll", EnrollRequest(code, public_key_hex, name),
                           signed=False)

    def device_config(self, etag: str | None, wait: float) -> DeviceConfig | None:
        """The device's configuration, or None when it is still the one tagged ``etag``."""
        headers = {"If-None-Match": f'"{etag}"'} if etag else {}
        status, _, data = self.request("GET", f"{API}/device/config", query=f"wait={int(wait)}", headers=headers,
                                       timeout=wait + self.timeout)
        if status == 304:
            return None
        return _decode(data, DeviceConfig)

    def report_consent(self, state: str) -> None:
        body = msgspec.convert({"state": state}, ConsentRequest)  # validated here, as the collector will
        self.request("POST", f"{API}/device/consent", msgspec.json.encode(body))


def _decode(data: bytes, typ: type[A]) -> A:
    try:
        return decode_answer(data, typ)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise Transient(f"the collector sent a malformed {typ.__name__} ({str(exc)[:120]})") from None


def _error(data: bytes) -> tuple[str, str]:
    try:
        err = decode_answer(data, ErrorBody).error
        return err.code, err.message
    except (msgspec.ValidationError, msgspec.DecodeError):
        return "http_error", data[:200].decode("utf-8", "replace")
