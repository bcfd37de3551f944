"""Structured logs: every line one JSON object, every line of a request with its request id.

The same formatter serves the app's loggers (the `bookingapp` tree, Flask's app logger
included) and gunicorn's error log (`gunicorn_logconfig()`, used by gunicorn_conf.py), so a
task writes nothing but JSON lines, which CloudWatch Logs Insights parses field by field.

The request id is the ALB's `X-Amzn-Trace-Id` when the request has one (locally, Traefik
passes a client's through), else one made up per request. It is returned as `X-Request-Id`,
which Traefik's access log records (compose.yaml), so one request can be followed from the
load balancer's log line into every line the app wrote for it.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

ROOT_LOGGER = "bookingapp"
ACCESS_LOGGER = "bookingapp.access"
APP_LOGGER = "bookingapp.app"  # Flask's app.logger: unhandled exceptions are logged there
TRACE_HEADER = "X-Amzn-Trace-Id"
REQUEST_ID_HEADER = "X-Request-Id"
# An ALB trace id ("Root=1-67891233-abcdef012345678912345678;Sampled=1") is short printable
# ASCII; anything else a client sends is not trusted into logs and headers, a new id is made.
_TRUSTED_ID = re.compile(r"[\x21-\x7e]{1,200}")
# The record attributes every line starts with, and the names they get in the JSON.
_FIELDS = {"asctime": "time", "levelname": "level", "name": "logger", "message": "message"}


class UtcJsonFormatter(JsonFormatter):
    """python-json-logger's formatter with UTC ISO-8601 times to the millisecond."""

    # logging.Formatter's documented hooks: times in UTC, "2026-11-26T10:51:17.123Z".
    converter = staticmethod(time.gmtime)
    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"


def json_formatter() -> JsonFormatter:
    """Return the one formatter: time, level, logger, message, extras, exception as a field."""
    return UtcJsonFormatter(
        list(_FIELDS),
        # A traceback is one string field of the line, never lines of its own.
        rename_fields={**_FIELDS, "exc_info": "exception", "stack_info": "stack"},
    )


class RequestIdFilter(logging.Filter):
    """Add the current request's id to every record written while handling it."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Set record.request_id inside a request; leave records outside one unchanged."""
        if has_request_context() and "request_id" in g:
            record.request_id = g.request_id
        return True


def json_handler() -> logging.Handler:
    """Return a stdout handler writing JSON lines with request ids."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(json_formatter())
    handler.addFilter(RequestIdFilter())
    return handler


def configure(level: int = logging.INFO) -> None:
    """Send the `bookingapp` loggers to stdout as JSON, once per process."""
    root = logging.getLogger(ROOT_LOGGER)
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return  # gunicorn's logconfig_dict, or an earlier app in this process, did it
    root.addHandler(json_handler())
    root.setLevel(level)


def gunicorn_logconfig(level: str) -> dict[str, Any]:
    """Return gunicorn's logconfig_dict: its error log and every other logger as JSON lines."""
    stdout = {"handlers": ["json"], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.json_formatter"}},
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "json",
                "filters": ["request_id"],
            },
            "discard": {"class": "logging.NullHandler"},
        },
        "loggers": {
            "gunicorn.error": {"level": level.upper(), **stdout},
            # The app writes the access line itself, with the request id. A logconfig_dict
            # turns gunicorn's access log on whatever `accesslog` says: its lines go nowhere.
            "gunicorn.access": {"handlers": ["discard"], "propagate": False},
            ROOT_LOGGER: {"level": "INFO", **stdout},
        },
        # Libraries (werkzeug, redis, urllib3...) only warn: in JSON too.
        "root": {"level": "WARNING", "handlers": ["json"]},
    }


def request_id() -> str:
    """Return the ALB's trace id for this request when it is usable, else a new id."""
    trace = request.headers.get(TRACE_HEADER, "")
    return trace if _TRUSTED_ID.fullmatch(trace) else uuid.uuid4().hex


def init_app(app: Flask, service: str, instance: str) -> None:
    """Give each request an id, log it once after it is answered, and log errors as JSON."""
    # Flask's own logger would be named after the app and get Flask's plain-text handler;
    # inside our tree it writes JSON like everything else.
    app.logger = logging.getLogger(APP_LOGGER)
    access = logging.getLogger(ACCESS_LOGGER)

    @app.before_request
    def _start_request() -> None:
        g.started = time.perf_counter()
        g.request_id = request_id()

    @app.after_request
    def _log_access(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        access.info(
            "request",
            extra={
                "service": service,
                "instance": instance,
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 2),
                "client": request.remote_addr,
            },
        )
        return response
