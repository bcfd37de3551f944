"""The apps learn which app services exist from BOOKINGAPP_APPS, never from a list in code."""

from __future__ import annotations

import pytest

from bookingapp_common.config import ConfigError
from bookingapp_common.service_list import from_environment
from bookingapp_home import create_app
from tests.unit.conftest import app_config


def test_the_apps_variable_becomes_the_nav_in_its_order():
    assert from_environment({"BOOKINGAPP_APPS": "home, movie,bus,train"}) == {
        "SERVICE_LINKS": ("home", "movie", "bus", "train")
    }


@pytest.mark.parametrize("value", ["", "  "])
def test_unset_or_empty_leaves_the_default_of_no_nav(value):
    assert from_environment({"BOOKINGAPP_APPS": value}) == {}
    assert from_environment({}) == {}


@pytest.mark.parametrize("value", ["home,,bus", "Home", "home,home", "home;bus", "1st"])
def test_a_malformed_list_is_refused_naming_the_variable(value):
    with pytest.raises(ConfigError, match=r"^BOOKINGAPP_APPS must be distinct service names"):
        from_environment({"BOOKINGAPP_APPS": value})


def test_the_page_links_every_app_of_the_variable(redis_server, redis_client, monkeypatch):
    """Built from the environment, as gunicorn's workers build it: a new app is in the nav."""
    config = app_config(redis_server.port)
    environ = {name: str(config[name]) for name in ("REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD")}
    environ["NEIGHBOUR_URL_TEMPLATE"] = config["NEIGHBOUR_URL_TEMPLATE"]  # refuses at once
    for name, value in {**environ, "BOOKINGAPP_APPS": "home,movie,train"}.items():
        monkeypatch.setenv(name, value)
    app = create_app(None)
    html = app.test_client().get("/home", headers={"Accept": "text/html"}).get_data(as_text=True)
    nav = html.split("<nav>", 1)[1].split("</nav>", 1)[0]
    assert [part.split('"', 1)[0] for part in nav.split('href="/')[1:]] == [
        "home",
        "movie",
        "train",
    ]
    assert list(app.extensions["bookingapp.neighbours"].urls) == ["movie", "train"]
