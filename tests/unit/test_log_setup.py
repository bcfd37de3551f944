"""The log set-up, applied in this process: gunicorn's config, configure(), the access line.

tests/unit/test_logs.py::test_everything_gunicorn_and_the_app_write_is_json_lines runs the
real server and reads its output; it stays the proof. These apply the same configuration
here (and put the loggers back afterwards), so each of its settings has a test that sees
it, and pin the access line's fields on a fake clock.
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
import time
from collections.abc import Iterator

import pytest
from pythonjsonlogger.json import JsonFormatter

from bookingapp_common import logs
from bookingapp_home import create_app
from tests.unit.conftest import app_config

TOUCHED = ["", "gunicorn.error", "gunicorn.access", logs.ROOT_LOGGER, "bookingapp.earlier"]


@pytest.fixture
def loggers() -> Iterator[None]:
    """Put every logger the configuration touches back as it was after the test."""
    saved = {}
    for name in TOUCHED:
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), logger.level, logger.propagate, logger.disabled)
    try:
        yield
    finally:
        for name, (handlers, level, propagate, disabled) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate, logger.disabled = propagate, disabled


def lines(text: str) -> list[dict]:
    """Parse each written line as JSON (failing if one is not)."""
    return [json.loads(line) for line in text.splitlines()]


def test_gunicorns_error_log_is_one_json_line_per_record(loggers, capsys):
    """Configured as gunicorn is, its error log writes JSON lines to stdout, once each."""
    logging.config.dictConfig(logs.gunicorn_logconfig("info"))
    logging.getLogger("gunicorn.error").info("Booting worker with pid: %s", 7)
    logging.getLogger("gunicorn.error").debug("not at info")
    written = lines(capsys.readouterr().out)
    assert [(w["level"], w["logger"], w["message"]) for w in written] == [
        ("INFO", "gunicorn.error", "Booting worker with pid: 7")
    ]


def test_gunicorns_error_log_takes_its_level_in_any_case(loggers, capsys):
    """The level comes as gunicorn's --log-level spells it (lower case) and is set as such."""
    logging.config.dictConfig(logs.gunicorn_logconfig("warning"))
    assert logging.getLogger("gunicorn.error").level == logging.WARNING


@pytest.mark.parametrize("level", [logging.INFO, logging.WARNING])
def test_gunicorns_access_log_writes_nothing(loggers, capsys, level):
    """The app writes the access line itself; gunicorn's own goes nowhere, at any level."""
    logging.config.dictConfig(logs.gunicorn_logconfig("info"))
    logging.getLogger("gunicorn.access").log(level, "GET /home 200")
    assert capsys.readouterr() == ("", "")


def test_the_apps_loggers_write_info_lines_once(loggers, capsys):
    """The `bookingapp` tree logs from INFO as JSON lines, each once (no propagation)."""
    logging.getLogger(logs.ROOT_LOGGER).setLevel(logging.NOTSET)  # the configuration sets it
    logging.config.dictConfig(logs.gunicorn_logconfig("warning"))
    logging.getLogger("bookingapp.access").info("request")
    logging.getLogger("bookingapp.access").debug("detail")
    written = lines(capsys.readouterr().out)
    assert [(w["level"], w["logger"]) for w in written] == [("INFO", "bookingapp.access")]


def test_libraries_only_warn_and_in_json_too(loggers, capsys):
    """Any other logger reaches the root: warnings as JSON lines, nothing below."""
    logging.getLogger().setLevel(logging.DEBUG)  # the configuration sets it
    logging.config.dictConfig(logs.gunicorn_logconfig("info"))
    logging.getLogger("urllib3.test").info("connection pool")
    logging.getLogger("urllib3.test").warning("retrying")
    written = lines(capsys.readouterr().out)
    assert [(w["level"], w["message"]) for w in written] == [("WARNING", "retrying")]


def test_loggers_made_before_gunicorn_configures_keep_working(loggers, capsys):
    """A module's logger created at import time is not disabled by the configuration."""
    earlier = logging.getLogger("bookingapp.earlier")
    logging.config.dictConfig(logs.gunicorn_logconfig("info"))
    earlier.warning("still here")
    assert [w["message"] for w in lines(capsys.readouterr().out)] == ["still here"]


def test_gunicorns_lines_carry_the_request_id_inside_a_request(loggers, capsys, redis_server):
    """The configured handler has the request id filter: a line written in a request has it."""
    logging.config.dictConfig(logs.gunicorn_logconfig("info"))
    app = create_app(app_config(redis_server.port))

    def chatty():
        logging.getLogger("gunicorn.error").warning("inside")
        return "ok"

    app.add_url_rule("/home/chatty", "chatty", chatty)
    response = app.test_client().get("/home/chatty", headers={"X-Amzn-Trace-Id": "Root=1-ab"})
    assert response.status_code == 200
    inside = [w for w in lines(capsys.readouterr().out) if w["message"] == "inside"]
    assert [w["request_id"] for w in inside] == ["Root=1-ab"]


def test_a_stack_asked_for_is_one_field_of_the_line(loggers, capsys):
    """stack_info=True puts the stack in the line's "stack" field, not in lines of its own."""
    logging.config.dictConfig(logs.gunicorn_logconfig("info"))
    logging.getLogger("bookingapp.test").warning("where am I", stack_info=True)
    (line,) = lines(capsys.readouterr().out)
    assert line["stack"].startswith("Stack (most recent call last):")
    assert "stack_info" not in line


def test_configure_adds_one_json_handler_on_stdout_at_info(loggers):
    """The first call adds the JSON handler (with request ids) and sets INFO; later ones nothing."""
    tree = logging.getLogger(logs.ROOT_LOGGER)
    tree.handlers[:] = [logging.NullHandler()]
    tree.setLevel(logging.NOTSET)
    logs.configure()
    logs.configure()
    (null, handler) = tree.handlers
    assert isinstance(null, logging.NullHandler)
    assert isinstance(handler, logging.StreamHandler)
    assert handler.stream is sys.stdout
    assert isinstance(handler.formatter, JsonFormatter)
    assert [type(f) for f in handler.filters] == [logs.RequestIdFilter]
    assert tree.level == logging.INFO


def test_configure_takes_the_level_it_is_given(loggers):
    """configure(level) sets that level on the tree."""
    tree = logging.getLogger(logs.ROOT_LOGGER)
    tree.handlers[:] = []
    logs.configure(logging.DEBUG)
    assert tree.level == logging.DEBUG


class PerfCounter:
    """Stands in for the logs module's `time`: perf_counter returns the given readings."""

    def __init__(self, *readings: float) -> None:
        self.readings = list(readings)

    def perf_counter(self) -> float:
        """Return the next reading (the last one again once they are used up)."""
        return self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]

    def __getattr__(self, name: str) -> object:
        """Everything else (the line's timestamp) is the real clock's."""
        return getattr(time, name)


def test_the_access_line_carries_every_field_with_the_duration_in_ms(
    redis_server, access_log, monkeypatch
):
    """Service, instance, method, path, status, client and the time taken, in milliseconds."""
    app = create_app(app_config(redis_server.port))
    monkeypatch.setattr(logs, "time", PerfCounter(10.0, 10.1234567))
    response = app.test_client().get("/home/health", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert response.status_code == 200
    (record,) = access_log
    assert record.message == "request"
    fields = ("service", "instance", "method", "path", "status", "duration_ms", "client")
    assert {name: getattr(record, name) for name in fields} == {
        "service": "home",
        "instance": "test-instance",
        "method": "GET",
        "path": "/home/health",
        "status": 200,
        "duration_ms": 123.46,
        "client": "10.0.0.9",
    }
    assert response.headers["X-Request-Id"] == record.request_id
