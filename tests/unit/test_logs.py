"""One log format: every line JSON, every line of a request carrying the same request id.

In-process tests read what the project's JSON handler writes; the gunicorn test runs the real
server with the image's config and reads its whole output, boot lines included.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from flask import Flask

from bookingapp_common import logs
from bookingapp_home import create_app
from tests.stubs import StubHandler, serving
from tests.support import free_port, http_get, http_status, start_gunicorn, wait_until
from tests.unit.conftest import HOME_NEIGHBOURS, app_config

TRACE = "Root=1-67891233-abcdef012345678912345678;Sampled=1"


class JsonLines:
    """What the project's JSON handler wrote while a test ran, line by line, parsed."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.written = ""
        self.handler = logging.StreamHandler(Stdout())
        self.handler.setFormatter(logs.json_formatter())
        self.handler.addFilter(logs.RequestIdFilter())

    def lines(self) -> list[dict]:
        """Return every line written so far, each parsed as JSON (failing if one is not)."""
        self.written += self.capsys.readouterr().out
        return [json.loads(line) for line in self.written.splitlines()]


class Stdout:
    """Whatever sys.stdout is when written to (pytest swaps it between a test's phases)."""

    def write(self, text: str) -> int:
        """Write to the stdout of the moment."""
        return sys.stdout.write(text)

    def flush(self) -> None:
        """Flush the stdout of the moment."""
        sys.stdout.flush()


@pytest.fixture
def written(capsys: pytest.CaptureFixture[str]) -> Iterator[JsonLines]:
    """Collect the `bookingapp` tree's lines, formatted exactly as in production.

    The access line is written to sys.stdout by AccessLog itself, not through the tree: the
    handler here writes to stdout too, so the lines stay in the order they were written.
    """
    collected = JsonLines(capsys)
    tree = logging.getLogger(logs.ROOT_LOGGER)
    tree.addHandler(collected.handler)
    yield collected
    tree.removeHandler(collected.handler)


@pytest.fixture
def broken_app(redis_server) -> Flask:
    """The home app with one view that raises, and one that logs a line of its own."""
    app = create_app(app_config(redis_server.port))

    def broken():
        raise RuntimeError("boom in the view")

    def chatty():
        logging.getLogger("bookingapp.test").warning("a line from inside the request")
        return "ok"

    app.add_url_rule("/home/broken", "broken", broken)
    app.add_url_rule("/home/chatty", "chatty", chatty)
    return app


def test_a_view_that_raises_logs_one_json_line_with_the_traceback_as_a_field(
    broken_app: Flask, written: JsonLines
) -> None:
    response = broken_app.test_client().get("/home/broken")
    assert response.status_code == 500
    errors = [line for line in written.lines() if line["level"] == "ERROR"]
    assert len(errors) == 1
    error = errors[0]
    assert error["logger"] == "bookingapp.app"
    assert "Exception on /home/broken [GET]" in error["message"]
    assert error["exception"].startswith("Traceback (most recent call last):")
    assert "RuntimeError: boom in the view" in error["exception"]
    assert error["request_id"] == response.headers["X-Request-Id"]


def test_flasks_app_logger_is_inside_the_project_tree(broken_app: Flask) -> None:
    """So it gets the JSON handler, and Flask never adds its plain-text one."""
    assert broken_app.logger.name.startswith(f"{logs.ROOT_LOGGER}.")
    assert broken_app.logger.handlers == []


def test_the_albs_trace_id_is_the_request_id_in_the_answer_and_every_line(
    broken_app: Flask, written: JsonLines
) -> None:
    response = broken_app.test_client().get("/home/chatty", headers={"X-Amzn-Trace-Id": TRACE})
    assert response.headers["X-Request-Id"] == TRACE
    lines = written.lines()
    assert [line["message"] for line in lines] == ["a line from inside the request", "request"]
    assert {line["request_id"] for line in lines} == {TRACE}


def test_without_a_trace_id_each_request_gets_its_own_new_id(
    broken_app: Flask, written: JsonLines
) -> None:
    client = broken_app.test_client()
    first = client.get("/home/chatty").headers["X-Request-Id"]
    second = client.get("/home/chatty").headers["X-Request-Id"]
    assert first
    assert second
    assert first != second
    ids = [line["request_id"] for line in written.lines()]
    assert ids == [first, first, second, second]


# A master that makes an id, then forks two workers that each make one, as gunicorn does.
FORKED_IDS = """
import os, sys
from bookingapp_common import logs
print(logs.new_request_id())
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        print(logs.new_request_id(), flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
"""


def test_workers_forked_from_one_master_each_make_their_own_ids() -> None:
    """The ids are not drawn from a state the workers inherit and would all replay."""
    # In a child process: forking this multi-threaded test process is unsafe.
    made = subprocess.run(
        [sys.executable, "-c", FORKED_IDS], capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(made) == 3
    assert all(re.fullmatch(r"[0-9a-f]{32}", made_id) for made_id in made)
    assert len(set(made)) == 3


@pytest.mark.parametrize(
    "sent",
    ["", "has spaces in it", "x" * 201, "line\u00e9break"],
    ids=["empty", "spaces", "long", "non-ascii"],
)
def test_a_trace_id_that_is_not_a_plain_token_is_replaced(broken_app: Flask, sent: str) -> None:
    """A client can send anything; only a short printable token is echoed and logged."""
    response = broken_app.test_client().get("/home/chatty", headers={"X-Amzn-Trace-Id": sent})
    returned = response.headers["X-Request-Id"]
    assert returned != sent
    assert len(returned) == 32
    assert int(returned, 16) >= 0


@pytest.fixture
def neighbour_headers() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A neighbour stub that records the headers of every request it gets."""
    seen: list[dict[str, str]] = []

    class Handler(StubHandler):
        def do_GET(self):
            seen.append(dict(self.headers.items()))
            self.answer(200, json.dumps({"status": "ready", "hits": 1, "instance": "n"}).encode())

    with serving(Handler) as url:
        yield f"{url}/{{name}}/ready", seen


@pytest.mark.parametrize("trace", [TRACE, None], ids=["albs-trace-id", "new-id"])
def test_home_asks_its_neighbours_with_the_visits_request_id(
    redis_server, neighbour_headers, trace
) -> None:
    """One id follows a visit into every neighbour's log: home sends it as the trace header."""
    template, seen = neighbour_headers
    app = create_app(app_config(redis_server.port, NEIGHBOUR_URL_TEMPLATE=template))
    response = app.test_client().get("/home", headers={logs.TRACE_HEADER: trace} if trace else {})
    assert response.status_code == 200
    request_id = response.headers[logs.REQUEST_ID_HEADER]
    if trace:
        assert request_id == trace
    # Every neighbour home asks (every other app) got the id.
    assert [headers.get(logs.TRACE_HEADER) for headers in seen] == [request_id] * len(
        HOME_NEIGHBOURS
    )


def test_lines_outside_a_request_have_no_request_id(written: JsonLines) -> None:
    logging.getLogger("bookingapp.test").warning("at start-up")
    (line,) = written.lines()
    assert "request_id" not in line
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"]), line["time"]


def run_gunicorn(port: int, redis_port: int) -> subprocess.Popen[str]:
    """Start gunicorn with the image's config for home on a loopback port, stderr in stdout."""
    return start_gunicorn(
        subprocess.PIPE,
        subprocess.STDOUT,
        PORT=str(port),
        REDIS_PORT=str(redis_port),
        REDIS_PASSWORD="unit-test-password",
        # No metadata endpoint here: the identity fallback warns, which must be JSON too.
        ECS_CONTAINER_METADATA_URI_V4=f"http://127.0.0.1:{free_port()}",
    )


@pytest.mark.skipif(sys.platform == "win32", reason="gunicorn does not run on Windows")
def test_everything_gunicorn_and_the_app_write_is_json_lines(redis_server) -> None:
    """Boot, the identity fallback, access lines, 404s and shutdown: all JSON, ids included."""
    port = free_port()
    server = run_gunicorn(port, redis_server.port)
    try:
        health = f"http://127.0.0.1:{port}/home/health"
        wait_until(lambda: http_status(health) != 0, 30, f"{health} did not answer")
        assert http_get(health, {"X-Amzn-Trace-Id": TRACE}).status == 200
        assert http_get(f"http://127.0.0.1:{port}/home/nothing-here").status == 404
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    lines = [json.loads(line) for line in output.splitlines()]  # fails on any plain line
    loggers = {line["logger"] for line in lines}
    assert {"gunicorn.error", "bookingapp.identity", "bookingapp.access"} <= loggers
    assert "gunicorn.access" not in loggers  # one access line per request: the app's
    access = [line for line in lines if line["logger"] == "bookingapp.access"]
    health = [
        line for line in access if line["path"] == "/home/health" and line["request_id"] == TRACE
    ]
    assert len(health) == 1
    missing = [line for line in access if line["path"] == "/home/nothing-here"]
    assert missing[0]["status"] == 404
    assert missing[0]["request_id"] not in ("", TRACE)
