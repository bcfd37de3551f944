"""Structured logs: every line one JSON object, every line of a request with its request id.

The same formatter serves the app's loggers (the `bookingapp` tree, Flask's app logger
included) and gunicorn's error log (`gunicorn_logconfig()`, used by gunicorn_conf.py), so a
task writes nothing but JSON lines, which CloudWatch Logs Insights parses field by field.

The request id is the ALB's `X-Amzn-Trace-Id` when the request has one (locally, Traefik
passes a client's through), else one made up per request. It is returned as `X-Request-Id`,
which Traefik's access log records (compose.yaml), so one request can be followed from the
load balancer's log line into every line the app wrote for it.

The access line (one per request) is written by AccessLog, a WSGI middleware around the
whole app, in the same shape as the formatter's lines (time, level, logger, message, then
the fields) but built directly: a LogRecord, its filters, the JSON formatter and a
handler are the most expensive part of a health answer, which every probe pays for.
It goes to sys.stdout, as the handlers' lines, in one write(2) of at most PIPE_BUF (4096)
bytes, which no other line can split: a longer path is cut, and `path_length` says how
long it was.
"""

from __future__ import annotations

import logging
import os
import random
import re
import select
import sys
import threading
import time
from collections.abc import Callable, Iterable
from json.encoder import encode_basestring_ascii
from typing import Any, TextIO

from flask import Flask, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

ROOT_LOGGER = "bookingapp"
ACCESS_LOGGER = "bookingapp.access"
APP_LOGGER = "bookingapp.app"  # Flask's app.logger: unhandled exceptions are logged there
TRACE_HEADER = "X-Amzn-Trace-Id"
REQUEST_ID_HEADER = "X-Request-Id"
# Where a request's id and its problem (if any) are kept, in the WSGI environ.
REQUEST_ID = "bookingapp.request_id"
PROBLEM = "bookingapp.problem"
# An ALB trace id ("Root=1-67891233-abcdef012345678912345678;Sampled=1") is short printable
# ASCII; anything else a client sends is not trusted into logs and headers, a new id is made.
_TRUSTED_ID = re.compile(r"[\x21-\x7e]{1,200}")
# The record attributes every line starts with, and the names they get in the JSON.
_FIELDS = {"asctime": "time", "levelname": "level", "name": "logger", "message": "message"}

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


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


def current_request_id() -> str | None:
    """Return the id of the request being handled, or None outside a request."""
    if not has_request_context():
        return None
    request_id: str | None = request.environ.get(REQUEST_ID)
    return request_id


class RequestIdFilter(logging.Filter):
    """Add the current request's id to every record written while handling it."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Set record.request_id inside a request; leave records outside one unchanged."""
        request_id = current_request_id()
        if request_id is not None:
            record.request_id = request_id
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


def note_problem(detail: str) -> None:
    """Put why this request failed into its access line (the answer itself stays generic)."""
    request.environ[PROBLEM] = detail


def new_request_id() -> str:
    """Return a new id: 32 random hex digits, as uuid4().hex looks."""
    # An id names a request; it guards nothing, so it need not be unguessable. `random` is
    # seeded from os.urandom and reseeded in every forked worker, and unlike os.urandom it
    # makes no system call: on the health path that call let go of the GIL once per
    # request, and the other threads' turn cost more than the call (docs/benchmark.md).
    return f"{random.getrandbits(128):032x}"


def request_id(trace: str | None) -> str:
    """Return the ALB's trace id when it is usable, else a new id."""
    return trace if trace is not None and _TRUSTED_ID.fullmatch(trace) else new_request_id()


class _Clock:
    """UTC timestamps to the millisecond, the date and time formatted once per second."""

    def __init__(self) -> None:
        self._second = (-1, "")

    def stamp(self, now: float) -> str:
        """Return `now` (time.time()) as 2026-11-26T10:51:17.123Z."""
        whole = int(now)
        second, text = self._second
        if whole != second:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
            self._second = (whole, text)
        return f"{text}.{int((now - whole) * 1000):03d}Z"


class StdoutLines:
    """Write lines to sys.stdout from many threads; one of up to PIPE_BUF bytes is never split."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # for a stream in memory: a TextIOWrapper is not thread-safe
        self._stream: TextIO | None = None
        self._fd: int | None = None

    def write(self, line: str) -> None:
        """Write one line (ASCII, newline included)."""
        stream = sys.stdout
        if stream is not self._stream:  # first line, or a test swapped sys.stdout
            self._stream, self._fd = stream, _fd_of(stream)
        if self._fd is None:
            with self._lock:
                stream.write(line)
                stream.flush()
            return
        # One write(2) of at most PIPE_BUF bytes to a pipe is never split or interleaved
        # (POSIX), so no lock: with one, the threads queued behind whichever was in the
        # system call, and those hand-offs cost the health path more than the rest of its
        # access line in a container (docs/benchmark.md). AccessLog keeps within PIPE_BUF.
        data = line.encode("ascii")
        while data:
            data = data[os.write(self._fd, data) :]


def _fd_of(stream: TextIO) -> int | None:
    """Return the stream's file descriptor, or None for one in memory (a test's capture)."""
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return None


class AccessLog:
    """WSGI middleware: give each request its id, return it, and write one access line."""

    def __init__(self, app: WsgiApp, service: str, instance: str) -> None:
        self.app = app
        self._clock = _Clock()
        self._out = StdoutLines()
        # Everything but the time is known before the request: the line's fixed middle.
        self._head = (
            f'","level":"INFO","logger":"{ACCESS_LOGGER}","message":"request",'
            f'"service":{encode_basestring_ascii(service)},'
            f'"instance":{encode_basestring_ascii(instance)},"method":'
        )

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Serve the request, then write its line."""
        started = time.perf_counter()
        own_id = environ[REQUEST_ID] = request_id(environ.get("HTTP_X_AMZN_TRACE_ID"))
        statuses: list[str] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            statuses.append(status)
            headers.append((REQUEST_ID_HEADER, own_id))
            return start_response(status, headers, exc_info)

        body = self.app(environ, start)
        elapsed = time.perf_counter() - started
        self.write(environ, statuses[-1] if statuses else "0", elapsed)
        return body

    def write(self, environ: dict[str, Any], status: str, elapsed: float) -> None:
        """Write the request's access line to stdout."""
        # The path as Flask shows it: WSGI's latin-1 text back to bytes, read as UTF-8.
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
        fields: dict[str, str | None] = {
            "method": environ.get("REQUEST_METHOD", ""),
            "path": "/" + path.lstrip("/"),
            "client": environ.get("REMOTE_ADDR"),
            "request_id": environ[REQUEST_ID],
            "problem": environ.get(PROBLEM),
        }
        code = int(status[:3]) if status[:3].isdigit() else 0
        line = self.line(fields, code, elapsed)
        if len(line) > LINE_LIMIT:  # a 16 K path, say: the ALB forwards one
            whole = len(fields["path"] or "")
            excess = len(line) - LINE_LIMIT + len(f',"path_length":{whole}')
            line = self.line(cut(fields, excess), code, elapsed, whole)
        self._out.write(line)

    def line(
        self, fields: dict[str, str | None], code: int, elapsed: float, path_length: int = 0
    ) -> str:
        """Return the access line; `path_length` is the whole path's when it was cut."""
        text = {
            name: "null" if value is None else encode_basestring_ascii(value)
            for name, value in fields.items()
        }
        said = "" if fields["problem"] is None else f',"problem":{text["problem"]}'
        if path_length:
            said += f',"path_length":{path_length}'
        return (
            f'{{"time":"{self._clock.stamp(time.time())}{self._head}{text["method"]},'
            f'"path":{text["path"]},"status":{code},"duration_ms":{round(elapsed * 1000, 2)},'
            f'"client":{text["client"]},"request_id":{text["request_id"]}{said}}}\n'
        )


# At most one pipe buffer's worth (POSIX's PIPE_BUF): StdoutLines writes it in one piece.
LINE_LIMIT = select.PIPE_BUF
# What a line keeps of a field that is not ours before the path gives way (client
# values are short on any real request: a method, an address).
FIELD_KEEP = {"method": 32, "client": 64, "problem": 512}


def cut(fields: dict[str, str | None], excess: int) -> dict[str, str | None]:
    """Return the fields shortened by at least `excess` characters once encoded, path last."""
    kept = dict(fields)
    for name, keep in FIELD_KEEP.items():
        value = kept[name]
        if value is not None and len(value) > keep:
            excess -= _encoded_length(value) - _encoded_length(value[:keep])
            kept[name] = value[:keep]
    path = kept["path"] or ""
    room = _encoded_length(path) - excess
    # The longest start of the path that fits (a character encodes to 1-12 of them).
    low, high = 0, len(path)
    while low < high:
        middle = (low + high + 1) // 2
        if _encoded_length(path[:middle]) <= room:
            low = middle
        else:
            high = middle - 1
    kept["path"] = path[:low]
    return kept


def _encoded_length(text: str) -> int:
    """Return how long text is as a JSON string in the line."""
    return len(encode_basestring_ascii(text))


def init_app(app: Flask, service: str, instance: str) -> None:
    """Give each request an id and an access line (call last: it wraps the whole app)."""
    # Flask's own logger would be named after the app and get Flask's plain-text handler;
    # inside our tree it writes JSON like everything else.
    app.logger = logging.getLogger(APP_LOGGER)
    app.wsgi_app = AccessLog(app.wsgi_app, service, instance)  # type: ignore[method-assign]
