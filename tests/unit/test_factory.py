"""The app factory: settings from the environment or from the caller, proxy headers trusted once.

The other unit tests build apps with config passed in; these build one from the environment,
as gunicorn does, and check what the factory wires that no page test looks at directly.
"""

from __future__ import annotations

import socket

from flask import request, url_for

from bookingapp_common import factory, identity
from bookingapp_common.views import INSTANCE, SPEC
from bookingapp_home import SERVICE as HOME
from bookingapp_home import create_app
from tests.support import free_port
from tests.unit.conftest import HOME_NEIGHBOURS, app_config


def test_without_config_the_settings_come_from_the_environment(monkeypatch):
    """No config passed: the environment's settings, over the defaults, validated."""
    monkeypatch.setenv("REDIS_HOST", "redis.test")
    monkeypatch.setenv("REDIS_PORT", "6390")
    monkeypatch.setenv("NEIGHBOUR_TIMEOUT", "0.25")
    monkeypatch.delenv("ECS_CONTAINER_METADATA_URI_V4", raising=False)
    app = factory.create_service_app(HOME)
    assert (app.config["REDIS_HOST"], app.config["REDIS_PORT"]) == ("redis.test", 6390)
    assert app.config["NEIGHBOUR_TIMEOUT"] == 0.25
    assert app.config["REDIS_SOCKET_TIMEOUT"] == 0.4  # a default nobody overrode
    assert app.extensions[INSTANCE] == identity.Instance(id=socket.gethostname())


def test_config_passed_in_replaces_the_environment(monkeypatch, redis_server):
    """Config given (tests): the environment is not read at all."""
    monkeypatch.setenv("REDIS_PORT", "not a number")
    app = create_app(app_config(redis_server.port, REDIS_HOST="127.0.0.2"))
    assert (app.config["REDIS_HOST"], app.config["REDIS_PORT"]) == ("127.0.0.2", redis_server.port)


def test_an_instance_id_in_config_is_used_without_asking_for_metadata(monkeypatch, redis_server):
    """INSTANCE_ID set: that is the instance, and the metadata endpoint is never asked."""

    def never(*args: object, **kwargs: object) -> identity.Instance:
        raise AssertionError("the metadata endpoint was asked")

    monkeypatch.setattr(identity, "discover", never)
    app = create_app(app_config(redis_server.port, INSTANCE_ID="i-42"))
    assert app.extensions[INSTANCE] == identity.Instance(id="i-42")
    assert app.extensions[SPEC] is HOME


def test_without_an_instance_id_the_metadata_endpoint_is_asked(monkeypatch, redis_server):
    """No INSTANCE_ID: the identity comes from the ECS metadata URI the config names."""
    asked: list[str | None] = []

    def discover(uri: str | None) -> identity.Instance:
        asked.append(uri)
        return identity.Instance(id="task-1", zone="eu-west-1a")

    monkeypatch.setattr(identity, "discover", discover)
    config = app_config(
        redis_server.port, INSTANCE_ID=None, ECS_CONTAINER_METADATA_URI_V4="http://meta/v4/x"
    )
    app = create_app(config)
    assert asked == ["http://meta/v4/x"]
    assert app.extensions[INSTANCE] == identity.Instance(id="task-1", zone="eu-west-1a")


def test_the_app_is_named_after_its_service(redis_server):
    """Each service's app has its own name (Flask's logger and sessions key off it)."""
    assert create_app(app_config(redis_server.port)).name == "bookingapp_home"


def test_one_proxy_is_trusted_for_address_scheme_host_and_port(redis_server, access_log):
    """The ALB's X-Forwarded-For/Proto/Port are believed, one hop only, as the ALB sets them."""
    app = create_app(app_config(redis_server.port))
    app.add_url_rule("/home/where", "where", lambda: request.url)
    headers = {
        "X-Forwarded-For": "198.51.100.1, 203.0.113.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Port": "8443",
    }
    answer = app.test_client().get(
        "/home/where", headers=headers, base_url="http://bookingapp.example"
    )
    assert answer.get_data(as_text=True) == "https://bookingapp.example:8443/home/where"
    # The last address is the one the ALB added; what the client claimed before it is not.
    assert [r.client for r in access_log] == ["203.0.113.7"]


def test_neighbours_are_asked_at_the_template_with_each_name(redis_server):
    """The neighbour client asks every neighbour of the spec at the configured template."""
    port = free_port()
    app = create_app(
        app_config(redis_server.port, NEIGHBOUR_URL_TEMPLATE=f"http://127.0.0.1:{port}/{{name}}/r")
    )
    client = app.extensions["bookingapp.neighbours"]
    assert client.urls == {name: f"http://127.0.0.1:{port}/{name}/r" for name in HOME_NEIGHBOURS}


def test_each_route_has_a_stable_endpoint_name_for_url_for(redis_server):
    """url_for("<service>.page" / "page_slash" / "health" / "ready") builds each route's path."""
    app = create_app(app_config(redis_server.port))
    with app.test_request_context():
        assert [url_for(f"home.{name}") for name in ("page", "page_slash", "health", "ready")] == [
            "/home",
            "/home/",
            "/home/health",
            "/home/ready",
        ]
