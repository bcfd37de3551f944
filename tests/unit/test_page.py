"""The page: counts every visit exactly once and says who served it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from bookingapp_bus import create_app as create_bus
from bookingapp_movie import create_app as create_movie
from tests.unit.conftest import APPS, app_config

JSON = {"Accept": "application/json"}


def test_json_page_names_service_instance_and_counts(client):
    """With Accept: application/json the page is a JSON document of the counts."""
    body = client.get("/home", headers=JSON).get_json()
    assert body["service"] == "home"
    assert body["instance"] == "test-instance"
    assert body["hits"] == 1
    assert body["instance_hits"] == 1


def test_each_request_increments_the_counter_by_exactly_one(client, redis_client):
    """Three visits give hits 1, 2, 3 and leave exactly 3 in Redis."""
    seen = [client.get("/home", headers=JSON).get_json()["hits"] for _ in range(3)]
    assert seen == [1, 2, 3]
    assert redis_client.get("bookingapp:home:hits") == "3"
    assert redis_client.hget("bookingapp:home:hits-by-instance", "test-instance") == "3"


def test_instances_of_a_service_share_the_count_but_not_their_own(redis_server, redis_client):
    """Two instances see one service-wide count and their own share of it."""
    first = create_movie(app_config(redis_server.port, INSTANCE_ID="a")).test_client()
    second = create_movie(app_config(redis_server.port, INSTANCE_ID="b")).test_client()
    first.get("/movie", headers=JSON)
    first.get("/movie", headers=JSON)
    body = second.get("/movie", headers=JSON).get_json()
    assert (body["hits"], body["instance_hits"], body["instance"]) == (3, 1, "b")


def test_services_count_separately(redis_server, redis_client):
    """A hit on bus does not move movie's counter."""
    create_bus(app_config(redis_server.port)).test_client().get("/bus")
    movie = create_movie(app_config(redis_server.port)).test_client()
    assert movie.get("/movie", headers=JSON).get_json()["hits"] == 1


def test_concurrent_requests_each_get_a_distinct_count(app, redis_client):
    """Concurrent visits are all counted and no two see the same number (no INCR-then-GET)."""

    def visit(_: int) -> int:
        return app.test_client().get("/home", headers=JSON).get_json()["hits"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        seen = sorted(pool.map(visit, range(200)))
    assert seen == list(range(1, 201))
    assert redis_client.get("bookingapp:home:hits") == "200"


@pytest.mark.parametrize("path", ["/home", "/home/"])
def test_page_answers_with_and_without_trailing_slash(client, path):
    """The ALB rule /home* sends both forms unchanged; both are the page, no redirect."""
    response = client.get(path, headers=JSON)
    assert response.status_code == 200
    assert response.get_json()["service"] == "home"


def test_html_page_shows_instance_counts_and_links(client):
    """Browsers get a page with the instance, the counts and links to every service."""
    client.get("/home")
    response = client.get("/home", headers={"Accept": "text/html"})
    html = response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    assert "<code>test-instance</code>" in html
    assert "<dt>Hits on home</dt><dd>2</dd>" in html
    for name in APPS:
        assert f'href="/{name}"' in html


def test_every_request_writes_one_json_access_line_with_the_instance(client, access_log):
    """One access record per request carries service, instance, path and status."""
    client.get("/home/health")
    client.get("/home/nothing-here")
    assert [(r.path, r.status) for r in access_log] == [
        ("/home/health", 200),
        ("/home/nothing-here", 404),
    ]
    assert {r.instance for r in access_log} == {"test-instance"}
    # The line starts as the JSON formatter's lines do: time, level, logger, message.
    (line, _) = access_log.lines()
    assert list(line)[:4] == ["time", "level", "logger", "message"]
    assert (line["level"], line["message"]) == ("INFO", "request")


def test_head_answers_without_counting_a_visit(client, redis_client):
    """HEAD (monitors, link checkers) is answered 200 with no body and leaves the count alone."""
    client.get("/home", headers=JSON)
    response = client.head("/home")
    assert response.status_code == 200
    assert response.get_data() == b""
    assert response.mimetype == "text/html"
    assert redis_client.get("bookingapp:home:hits") == "1"
    assert client.get("/home", headers=JSON).get_json()["hits"] == 2


@pytest.mark.parametrize("path", ["/home", "/home/health", "/home/ready", "/home/nope"])
def test_every_answer_forbids_sniffing_and_caching(client, path):
    """Every answer says nosniff and no-store: the page has new counts on every hit."""
    response = client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_the_page_may_not_be_framed_run_scripts_or_leak_its_address(client):
    """The page's CSP allows its inline style only; no frames, no referrer sent on."""
    headers = client.get("/home").headers
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "script-src" not in policy  # so default-src 'none' forbids scripts
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"


def test_bus_serves_its_own_page_under_its_own_prefix(redis_server, redis_client):
    """The bus app answers /bus with its own spec (name, title) and counts its own hits."""
    client = create_bus(app_config(redis_server.port)).test_client()
    body = client.get("/bus", headers=JSON).get_json()
    assert (body["service"], body["hits"]) == ("bus", 1)
    html = client.get("/bus").get_data(as_text=True)
    assert "<h1>Buses</h1>" in html
    assert redis_client.get("bookingapp:bus:hits") == "2"
    assert client.get("/buses").status_code == 404
