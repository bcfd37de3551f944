"""What /ready and the error pages say, word for word where a reader relies on it.

Each test here fails on a change mutmut made to views.py or errors.py that the other tests
let through (docs/testing.md, "Mutation testing").
"""

from __future__ import annotations

from werkzeug import exceptions

from bookingapp_home import create_app
from tests.support import JSON, free_port
from tests.unit.conftest import app_config


def not_answering(port: int) -> set[str]:
    """Return the log's detail for a closed port: refused, or out of time on a busy host.

    The counter tries again until its 1 s is spent; which error the last try met depends on
    the host: refused (ConnectionError), or a connect still under way when the time ran out
    (TimeoutError; seen once in CI at load average 8).
    """
    where = f"the hit counter at 127.0.0.1:{port}"
    return {f"{where} is not answering ({kind})" for kind in ("ConnectionError", "TimeoutError")}


def test_ready_says_ready_with_the_count_service_and_instance(client, redis_client):
    """The readiness body names who answered, as the 503 body does (neighbours read it)."""
    redis_client.set("bookingapp:home:hits", 7)
    answer = client.get("/home/ready")
    assert answer.status_code == 200
    assert answer.get_json() == {
        "status": "ready",
        "hits": 7,
        "service": "home",
        "instance": "test-instance",
    }


def test_a_page_that_does_not_exist_shows_the_status_and_the_reason(client):
    answer = client.get("/home/nothing/here")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 404
    assert "<h1>404 · Not Found</h1>" in page
    assert "The requested URL was not found on the server." in page


def test_ready_when_redis_is_down_says_who_and_a_generic_reason(redis_server, access_log):
    """The 503 body names the service and instance, as the 200 body does, and a generic reason.

    It names no internal endpoint; the request's log line has the detail.
    """
    port = free_port()
    app = create_app(app_config(port))
    answer = app.test_client().get("/home/ready")
    assert answer.status_code == 503
    assert answer.get_json() == {
        "status": "unavailable",
        "reason": "the hit counter cannot count right now",
        "service": "home",
        "instance": "test-instance",
    }
    (line,) = access_log
    assert line.problem in not_answering(port)


def test_a_page_that_does_not_exist_answers_json_with_the_reason_and_status(client):
    """Asked for JSON, a 404 is a JSON document: the reason and the status, nothing else."""
    answer = client.get("/home/nothing/here", headers=JSON)
    assert answer.status_code == 404
    assert answer.mimetype == "application/json"
    assert answer.get_json() == {
        "error": "The requested URL was not found on the server. If you entered the URL "
        "manually please check your spelling and try again.",
        "status": 404,
    }


def test_a_wrong_method_keeps_allow_and_answers_in_the_asked_format(client):
    """405: the Allow header survives, the body is ours and in JSON when JSON is asked for."""
    answer = client.post("/home", headers=JSON)
    assert answer.status_code == 405
    assert answer.mimetype == "application/json"
    assert set(answer.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    assert answer.get_json() == {
        "error": "The method is not allowed for the requested URL.",
        "status": 405,
    }


def test_a_server_error_page_says_only_that_something_went_wrong(redis_server):
    """A 500 in HTML: the status and a generic title and message, never the exception."""
    app = create_app(app_config(redis_server.port))

    def broken():
        raise RuntimeError("secret internals")

    app.add_url_rule("/home/broken", "broken", broken)
    answer = app.test_client().get("/home/broken")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 500
    assert answer.mimetype == "text/html"
    assert "<h1>500 · Server error</h1>" in page
    assert "Something went wrong on our side." in page
    assert "secret internals" not in page


def test_an_error_status_from_501_up_is_generic_too(redis_server):
    """Any 5xx, not only 500, hides its description behind the generic message."""
    app = create_app(app_config(redis_server.port))

    def unimplemented():
        raise exceptions.NotImplemented("internal detail")

    app.add_url_rule("/home/todo", "todo", unimplemented)
    answer = app.test_client().get("/home/todo", headers=JSON)
    assert answer.get_json() == {"error": "Something went wrong on our side.", "status": 501}


def test_redis_down_is_a_503_with_retry_after_and_a_sentence_in_words(redis_server):
    """The page when Redis is down: 503, Retry-After 2, a generic sentence, in HTML."""
    app = create_app(app_config(free_port()))
    answer = app.test_client().get("/home")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "2"
    assert "<h1>503 · Temporarily unavailable</h1>" in page
    assert "We can&#39;t count this visit right now. Please try again in a few seconds." in page
    assert "127.0.0.1" not in page


def test_redis_down_in_json_gives_the_sentence_and_the_log_the_reason(redis_server, access_log):
    """The JSON 503 carries the same generic sentence and the status; the log line the why."""
    port = free_port()
    app = create_app(app_config(port))
    answer = app.test_client().get("/home", headers=JSON)
    assert answer.get_json() == {
        "error": "We can't count this visit right now. Please try again in a few seconds.",
        "status": 503,
    }
    (line,) = access_log
    assert line.problem in not_answering(port)
    assert line.status == 503


def test_head_asking_for_json_is_told_json_and_asks_nobody(client, redis_client):
    """HEAD with Accept: application/json gets the JSON type, no body, and counts nothing."""
    answer = client.head("/home", headers=JSON)
    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    assert answer.get_data() == b""
    assert redis_client.get("bookingapp:home:hits") is None


def test_the_html_page_shows_this_instances_own_count(client, redis_client):
    """The HTML page shows the instance's count beside the service's, each its own number."""
    redis_client.set("bookingapp:home:hits", 10)
    client.get("/home")
    html = client.get("/home").get_data(as_text=True)
    assert "<dt>Hits on home</dt><dd>12</dd>" in html
    assert "<dt>Served by this instance</dt><dd>2</dd>" in html
