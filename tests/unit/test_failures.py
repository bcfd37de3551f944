"""When things go wrong: Redis down, unknown paths, wrong methods, bugs. Clear answers only."""

from __future__ import annotations

import time

import pytest

from bookingapp_common.counter import PROBE_INTERVAL_SECONDS
from bookingapp_home import create_app
from tests.support import free_port
from tests.unit.conftest import app_config

JSON = {"Accept": "application/json"}


@pytest.fixture
def app_without_redis():
    """An app whose Redis port refuses connections."""
    return create_app(app_config(free_port()))


def test_page_answers_503_quickly_when_redis_is_down(app_without_redis):
    """No Redis: 503 with a sentence a person understands, well within 2 seconds."""
    started = time.monotonic()
    response = app_without_redis.test_client().get("/home", headers=JSON)
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert elapsed < 2
    assert "can't count this visit right now" in response.get_json()["error"]
    assert response.headers["Retry-After"] == "2"


def test_page_answers_503_when_redis_does_not_answer_at_all(redis_server, silent_port):
    """A Redis that accepts but never replies (paused, partitioned) still gives 503 in < 2 s."""
    app = create_app(app_config(silent_port))
    started = time.monotonic()
    response = app.test_client().get("/home", headers=JSON)
    assert response.status_code == 503
    assert time.monotonic() - started < 2


def test_html_503_says_what_happened_without_a_traceback(app_without_redis):
    """Browsers get a readable 503 page naming the counter, not a stack trace."""
    response = app_without_redis.test_client().get("/home")
    html = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "Temporarily unavailable" in html
    assert "Traceback" not in html


def test_wrong_password_is_reported_as_such_in_the_log(redis_server, access_log):
    """A bad REDIS_PASSWORD is named in the request's log line, for the operator to fix.

    The visitor's 503 says only that the visit was not counted.
    """
    app = create_app(app_config(redis_server.port, REDIS_PASSWORD="wrong"))
    response = app.test_client().get("/home", headers=JSON)
    assert response.status_code == 503
    assert "REDIS_PASSWORD" not in response.get_json()["error"]
    (line,) = access_log
    assert "check REDIS_PASSWORD" in line.problem
    assert line.request_id == response.headers["X-Request-Id"]


def test_health_stays_200_without_redis(app_without_redis):
    """Liveness never asks Redis: a Redis blip must not make ECS replace every task."""
    response = app_without_redis.test_client().get("/home/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "service": "home", "instance": "test-instance"}


def test_ready_is_503_with_where_it_looked_in_the_log_only(app_without_redis, access_log):
    """Readiness reports Redis being unreachable; where it looked is in the log line only."""
    response = app_without_redis.test_client().get("/home/ready")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"
    assert "127.0.0.1" not in response.get_data(as_text=True)
    (line,) = access_log
    assert "127.0.0.1:" in line.problem


def test_ready_is_200_and_does_not_count_a_hit(client, redis_client):
    """Readiness answers with the current count and leaves it unchanged."""
    client.get("/home")
    response = client.get("/home/ready")
    assert response.status_code == 200
    assert response.get_json()["hits"] == 1
    assert redis_client.get("bookingapp:home:hits") == "1"


def test_the_app_recovers_by_itself_when_redis_returns(redis_server, redis_client):
    """After an outage the page counts again within a probe interval: no restart needed."""
    client = create_app(app_config(redis_server.port)).test_client()
    assert client.get("/home", headers=JSON).status_code == 200
    redis_server.stop()
    try:
        assert client.get("/home", headers=JSON).status_code == 503
    finally:
        redis_server.start()
    started = time.monotonic()
    while client.get("/home", headers=JSON).status_code != 200:
        assert time.monotonic() - started < PROBE_INTERVAL_SECONDS + 0.5
        time.sleep(0.02)


@pytest.mark.parametrize("path", ["/home/nope", "/nope", "/", "/homepage", "/movie"])
def test_unknown_paths_are_404_in_json(client, path):
    """Paths the service does not own are 404 with a JSON error when JSON is asked for."""
    response = client.get(path, headers=JSON)
    assert response.status_code == 404
    assert response.get_json()["status"] == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_wrong_methods_are_405_with_allow(client, method):
    """Only GET (and HEAD, OPTIONS) are served; the Allow header says so."""
    response = client.open("/home", method=method)
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


def test_an_unexpected_error_is_a_plain_500_without_details(redis_server):
    """A bug answers 500 with a generic message; the traceback goes to the log only."""
    app = create_app(app_config(redis_server.port))

    def broken():
        raise RuntimeError("secret internals")

    app.add_url_rule("/home/broken", "broken", broken)
    response = app.test_client().get("/home/broken", headers=JSON)
    assert response.status_code == 500
    assert response.get_json()["error"] == "Something went wrong on our side."
    assert "secret internals" not in response.get_data(as_text=True)
