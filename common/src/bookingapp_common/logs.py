"""Structured logs: one JSON access line per request, with the instance that served it."""

from __future__ import annotations

import json
import logging
import sys
import time

from flask import Flask, Response, g, request

ACCESS_LOGGER = "bookingapp.access"


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object per line (CloudWatch Logs Insights parses it)."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record's message and extra fields as JSON."""
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: int = logging.INFO) -> None:
    """Send the app's logs to stdout as JSON, once per process."""
    root = logging.getLogger("bookingapp")  # every logger of ours is a child of it
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    # No record of ours shows file/line, so skip the stack walk logging does on every record
    # (the "Optimization" section of the logging HOWTO).
    logging._srcfile = None


def init_app(app: Flask, service: str, instance: str) -> None:
    """Log every request once, after it is answered."""
    access = logging.getLogger(ACCESS_LOGGER)

    @app.before_request
    def _start_clock() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _log_access(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        access.info(
            "request",
            extra={
                "fields": {
                    "service": service,
                    "instance": instance,
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round(elapsed * 1000, 2),
                    "client": request.remote_addr,
                }
            },
        )
        return response
