"""The collector's Prometheus metrics, served only on a loopback port of their own (server).

The collector's public port never answers ``/metrics``: request counts, latencies and rejection
codes describe the fleet and are nobody's business outside the host (issue 12). With ``[server]
metrics_port`` set, every collector process listens on ``127.0.0.1:metrics_port`` with
``SO_REUSEPORT``; whichever process the kernel hands a scrape answers with the sum over all live
workers (``PROMETHEUS_MULTIPROC_DIR``), so a scrape sees the whole collector. Only loopback: a
Prometheus elsewhere scrapes through an exporter or a tunnel the operator chooses.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"


class Metrics:
    """The collector's Prometheus metrics.

    With several worker processes (``PROMETHEUS_MULTIPROC_DIR`` set by ``server start``), each
    writes its values to that folder and ``exposition`` sums them over the live workers, so a
    scrape that reaches any worker sees the whole collector.
    """

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry()
        self.requests = Counter("jobshadow_requests_total", "HTTP requests", ["route", "status"],
                                registry=self.registry)
        self.latency = Histogram("jobshadow_request_seconds", "request latency", ["route"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.bytes_in = Counter("jobshadow_upload_bytes_total", "upload bytes received", registry=self.registry)
        self.landed = Counter("jobshadow_segments_landed_total", "segments landed", registry=self.registry)
        self.rejected = Counter("jobshadow_rejections_total", "requests refused", ["code"], registry=self.registry)
        self.config_version = Gauge("jobshadow_config_version", "control-plane version", registry=self.registry,
                                    multiprocess_mode="livemax")
        self.in_flight = Gauge("jobshadow_requests_in_flight", "requests being handled (long polls included)",
                               registry=self.registry, multiprocess_mode="livesum")

    def exposition(self) -> bytes:
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    def close(self) -> None:
        """This worker is stopping: its live gauges leave the sums."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class _Server(ThreadingHTTPServer):
    allow_reuse_port = True  # every worker process binds the same port
    daemon_threads = True


class MetricsListener:
    """``GET /metrics`` on ``127.0.0.1:port`` from a thread of this process; ``close`` stops it."""

    def __init__(self, port: int, exposition: Callable[[], bytes]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] == "/metrics":
                    status, ctype, body = 200, CONTENT_TYPE_LATEST, exposition()
                else:
                    status, ctype = 404, "application/json"
                    body = json.dumps({"error": {"code": "not_found", "message": "only /metrics"}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return None  # scrapes every few seconds: not worth a log line each

        self.httpd = _Server((LOOPBACK, port), Handler)
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)
