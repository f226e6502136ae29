"""The witness's HTTP face: a small threaded server on loopback (the witness's machine).

Routes (text bodies as in C2SP tlog-witness; every error is JSON ``{"error": {"code",
"message"}}`` except the 409 size answer, which is ``text/x.tlog.size`` as the spec says):

* ``POST /add-mirrored-checkpoint`` — ``old N``, the new leaf hashes (base64, one a line), a
  blank line, the log-signed checkpoint; answers the cosignature line (``Witness.add_checkpoint``).
* ``GET /checkpoint`` — the latest cosigned checkpoint (404 before the first).
* ``GET /leaf-hashes?start=A&end=B`` — mirrored leaf hashes, 32 raw bytes each.
* ``GET /healthz``.

Nothing here is authenticated: a submission counts only if the log signed it, and what is read
(sizes, roots, leaf hashes) reveals no record contents. Bind to loopback and put a TLS proxy in
front when the log runs on another machine. Logs carry method, path, status and size only.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from jobshadow.govern.audit.witness import MAX_BODY, Witness, WitnessRefusal

log = logging.getLogger(__name__)
SUBMIT_PATH = "/add-mirrored-checkpoint"
SIZE_TYPE = "text/x.tlog.size"


class _Handler(BaseHTTPRequestHandler):
    server_version = "jobshadow-witness/1"
    protocol_version = "HTTP/1.1"
    witness: Witness

    def _send(self, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        self._send(status, body, "application/json")

    def _refused(self, exc: WitnessRefusal) -> None:
        if exc.status == 409 and exc.size is not None:
            self._send(409, f"{exc.size}\n".encode(), SIZE_TYPE)
            return
        codes = {400: "bad_request", 403: "not_signed_by_log", 404: "unknown_log", 409: "conflict",
                 422: "inconsistent"}
        self._error(exc.status, codes.get(exc.status, "refused"), str(exc))

    def do_POST(self) -> None:
        if urlsplit(self.path).path != SUBMIT_PATH:
            self._error(404, "not_found", "no such route")
            return
        length = self.headers.get("Content-Length", "")
        if not length.isdigit() or int(length) > MAX_BODY:
            self._error(413, "too_large", f"a submission is at most {MAX_BODY} bytes, with Content-Length")
            self.close_connection = True
            return
        body = self.rfile.read(int(length))
        try:
            line = self.witness.add_checkpoint(body)
        except WitnessRefusal as exc:
            self._refused(exc)
            return
        except Exception as exc:  # a request boundary: answer, log the kind, keep serving
            log.error("witness failed on a submission: %s", type(exc).__name__, exc_info=exc)
            self._error(500, "internal_error", "the witness failed; see its log")
            return
        self._send(200, line.encode())

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self._send(200, b"ok\n")
        elif url.path == "/checkpoint":
            latest = self.witness.latest()
            if latest is None:
                self._error(404, "no_checkpoint", "this witness has cosigned nothing yet")
            else:
                self._send(200, latest.encode())
        elif url.path == "/leaf-hashes":
            query = parse_qs(url.query)
            try:
                start, end = int(query["start"][0]), int(query["end"][0])
                self._send(200, self.witness.leaf_hashes(start, end), "application/octet-stream")
            except (KeyError, ValueError):
                self._error(400, "bad_request", "start and end are integers")
            except WitnessRefusal as exc:
                self._refused(exc)
        else:
            self._error(404, "not_found", "no such route")

    def log_message(self, format: str, *args: object) -> None:
        log.info("witness request", extra={"fields": {"request": self.requestline[:80], "status": args[1]
                                                      if len(args) > 1 else None}})


class WitnessServer:
    """Serves one ``Witness``; ``start`` runs it on a thread, ``stop`` ends it (idempotent)."""

    def __init__(self, witness: Witness, host: str = "127.0.0.1", port: int = 0) -> None:
        witness.lock()
        handler = type("Handler", (_Handler,), {"witness": witness})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.witness = witness
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> WitnessServer:
        self._thread = threading.Thread(target=self.serve_forever, name="witness-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.httpd.server_close()
        self.witness.close()
