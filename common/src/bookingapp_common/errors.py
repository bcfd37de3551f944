"""Error answers: clear words, JSON or HTML as asked, never a stack trace."""

from __future__ import annotations

import functools

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_accept_header

from bookingapp_common import logs
from bookingapp_common.counter import CounterUnavailable

# Clients (and the ALB's retrying users) may try again after this many seconds.
RETRY_AFTER_SECONDS = 2


def wants_json() -> bool:
    """Tell whether the client prefers JSON over HTML."""
    return _prefers_json(request.headers.get("Accept", ""))


@functools.lru_cache(maxsize=256)
def _prefers_json(accept: str) -> bool:
    """Decide for one Accept header value; clients send few distinct ones, so remember them."""
    # Parsing a browser's Accept header costs more than the Redis round trip (measured).
    best = parse_accept_header(accept, MIMEAccept).best_match(["text/html", "application/json"])
    return best == "application/json"


def answer_error(status: int, title: str, message: str) -> tuple[Response | str, int]:
    """Render an error in the format the client asked for."""
    if wants_json():
        return jsonify(error=message, status=status), status
    return render_template("error.html", status=status, title=title, message=message), status


def _http_error(error: HTTPException) -> tuple[Response | str, int, list[tuple[str, str]]]:
    """Answer 404, 405 and friends (and 500: Flask wraps unhandled errors in one)."""
    status = error.code or 500
    # Keep headers such as Allow on a 405; the body is ours.
    headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    if status >= 500:
        # The description of a 500 may say too much; the log has the traceback.
        body, status = answer_error(status, "Server error", "Something went wrong on our side.")
    else:
        body, status = answer_error(status, error.name, error.description or error.name)
    return body, status, headers


# What the public is told when the counter fails: where Redis is and what it said are for
# the log (the request's access line), never for anyone on the internet.
COUNTER_DOWN = "We can't count this visit right now. Please try again in a few seconds."


def _counter_unavailable(error: CounterUnavailable) -> tuple[Response | str, int, dict[str, str]]:
    """Answer 503 when Redis cannot count: the service is alive, the detail goes to the log."""
    logs.note_problem(str(error))
    body, status = answer_error(503, "Temporarily unavailable", COUNTER_DOWN)
    return body, status, {"Retry-After": str(RETRY_AFTER_SECONDS)}


def init_app(app: Flask) -> None:
    """Register the error handlers."""
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(CounterUnavailable, _counter_unavailable)
