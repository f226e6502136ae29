"""A small signed HTTP client for the collector (device zone).

The standard library's ``http.client`` keeps the always-on recorder process light (no extra HTTP
stack in every laptop's memory); one keep-alive connection per client, re-opened on failure.
Failures are classified once, here: ``Transient`` (network errors, 408/425/429/5xx — retry with
backoff, honouring Retry-After) or ``RequestRejected`` (other 4xx — retrying cannot help).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import urllib.parse
from typing import TYPE_CHECKING, Any

from jobshadow.errors import JobshadowError, RequestRejected
from jobshadow.protocol import API, sign_request

if TYPE_CHECKING:
    from jobshadow.upload.identity import DeviceIdentity

TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}


class Transient(JobshadowError):
    """The collector could not be reached or asked us to come back later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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
                raise JobshadowError("this device is not enrolled (jobshadow device enroll)")
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

    # --- API --------------------------------------------------------------------------------------
    def enroll(self, code: str, public_key_hex: str, name: str) -> dict[str, Any]:
        _, _, out = self.json("POST", f"{API}/enroll", {"code": code, "public_key": public_key_hex, "name": name},
                              signed=False)
        if not isinstance(out, dict):
            raise JobshadowError("the collector sent a malformed enrolment reply")
        return out

    def device_config(self, etag: str | None, wait: float) -> dict[str, Any] | None:
        headers = {"If-None-Match": f'"{etag}"'} if etag else {}
        status, _, out = self.json("GET", f"{API}/device/config", query=f"wait={int(wait)}", headers=headers,
                                   timeout=wait + self.timeout)
        if status == 304:
            return None
        return out if isinstance(out, dict) else None

    def report_consent(self, state: str) -> None:
        self.json("POST", f"{API}/device/consent", {"state": state})


def _error(data: bytes) -> tuple[str, str]:
    try:
        err = json.loads(data)["error"]
        return str(err["code"]), str(err["message"])
    except (ValueError, KeyError, TypeError):
        return "http_error", data[:200].decode("utf-8", "replace")


def is_network_error(exc: BaseException) -> bool:
    return isinstance(exc, Transient | socket.timeout | ConnectionError)
