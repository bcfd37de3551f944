"""home shows every other app; a slow or dead neighbour degrades its panel, never the page."""

from __future__ import annotations

import json
import time

import pytest

from bookingapp_home import create_app
from tests.stubs import StubHandler, serving
from tests.support import free_port
from tests.unit.conftest import HOME_NEIGHBOURS, app_config

JSON = {"Accept": "application/json"}


@pytest.fixture
def neighbour_server():
    """Pretend to be movie (ready, 7 hits) and bus (answers only after 3 s)."""
    asked: list[str] = []

    class Handler(StubHandler):
        def do_GET(self):
            asked.append(self.path)
            if self.path.startswith("/bus/"):
                time.sleep(3)
            self.answer(200, json.dumps({"status": "ready", "hits": 7, "instance": "m-1"}).encode())

    # The slow answer finds its client gone: that is the point (serving() stays quiet on it).
    with serving(Handler) as url:
        yield url, asked


def test_home_shows_a_ready_neighbour_and_degrades_a_slow_one(
    redis_server, redis_client, neighbour_server
):
    """Movie answers and is shown up; bus is too slow and is reported, within the deadline."""
    template = f"{neighbour_server[0]}/{{name}}/ready"
    app = create_app(
        app_config(redis_server.port, NEIGHBOUR_URL_TEMPLATE=template, NEIGHBOUR_TIMEOUT=0.5)
    )
    started = time.monotonic()
    response = app.test_client().get("/home", headers=JSON)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < 1.5
    panels = {n["name"]: n for n in response.get_json()["neighbours"]}
    assert panels["movie"] == {"name": "movie", "up": True, "hits": 7, "instance": "m-1"}
    assert panels["bus"]["up"] is False
    assert "no answer within 0.5 s" in panels["bus"]["problem"]


def test_home_renders_when_neighbours_do_not_exist(redis_server, redis_client):
    """Refused connections show as unreachable panels; the page is still 200."""
    template = f"http://127.0.0.1:{free_port()}/{{name}}/ready"
    app = create_app(app_config(redis_server.port, NEIGHBOUR_URL_TEMPLATE=template))
    response = app.test_client().get("/home")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.count("unreachable") == len(HOME_NEIGHBOURS)


def test_neighbours_are_asked_through_their_discovery_names(redis_server):
    """By default home asks every other app at its Cloud Map name on port 5000."""
    config = app_config(redis_server.port)
    del config["NEIGHBOUR_URL_TEMPLATE"]
    app = create_app(config)
    urls = app.extensions["bookingapp.neighbours"].urls
    assert urls == {
        name: f"http://{name}.internal-bookingapp.com:5000/{name}/ready" for name in HOME_NEIGHBOURS
    }


def test_home_shows_every_other_app_it_is_told_of_and_never_itself(redis_server):
    """The apps come from BOOKINGAPP_APPS (SERVICE_LINKS): a new one is a panel, home is not."""
    app = create_app(app_config(redis_server.port, SERVICE_LINKS=("home", "shop", "train")))
    assert list(app.extensions["bookingapp.neighbours"].urls) == ["shop", "train"]


def home_asking(neighbour_url: str, redis_port: int, max_age: float):
    """Return a client of home whose neighbours are the stub server."""
    template = f"{neighbour_url}/{{name}}/ready"
    config = app_config(
        redis_port,
        NEIGHBOUR_URL_TEMPLATE=template,
        NEIGHBOUR_TIMEOUT=0.3,
        NEIGHBOUR_MAX_AGE=max_age,
    )
    return create_app(config).test_client()


def test_neighbour_states_are_reused_for_a_while_not_asked_per_request(
    redis_server, redis_client, neighbour_server
):
    """Within NEIGHBOUR_MAX_AGE the page reuses what it learnt: no HTTP calls per view."""
    url, asked = neighbour_server
    client = home_asking(url, redis_server.port, max_age=60)
    for _ in range(5):
        assert client.get("/home", headers=JSON).status_code == 200
    assert asked.count("/movie/ready") == 1


def test_stale_neighbour_states_are_asked_again(redis_server, redis_client, neighbour_server):
    """Once older than NEIGHBOUR_MAX_AGE, the next view asks the neighbours again."""
    url, asked = neighbour_server
    client = home_asking(url, redis_server.port, max_age=0.2)
    client.get("/home")
    time.sleep(0.3)
    client.get("/home")
    assert asked.count("/movie/ready") == 2
