"""The listener rules a traffic-shifting release writes for Traefik, checked without Docker.

What these can't prove: that Traefik reads the rules as meant; test_blue_green.py sends
traffic through a real Traefik for that.
"""

from __future__ import annotations

import json

import pytest

from bookingapp_infra.local.strategies.routing import (
    Routing,
    dump,
    render,
    weights,
    with_test_header,
)
from bookingapp_infra.local.strategies.state import FULL
from bookingapp_infra.local.traefik import HealthCheck, Listener

LISTENER = Listener(rule="PathPrefix(`/movie`)", priority=980, entrypoints=("web",))
HEALTH = HealthCheck(path="/movie/health", interval="1s", timeout="1s")
BLUE = ("http://10.0.0.2:5000", "http://10.0.0.3:5000")
GREEN = ("http://10.0.0.4:5000", "http://10.0.0.5:5000")


def routing(**changes: object) -> Routing:
    """A routing of movie with both colours present, changed as asked."""
    values = {
        "service": "movie",
        "listener": LISTENER,
        "health": HEALTH,
        "blue": BLUE,
        "green": GREEN,
    }
    return Routing(**{**values, **changes})


def test_production_router_shadows_the_docker_router_with_the_same_rule() -> None:
    router = render(routing())["http"]["routers"]["movie-production"]
    assert router["rule"] == "PathPrefix(`/movie`)"
    assert router["priority"] == 981
    assert router["entryPoints"] == ["web"]
    assert router["service"] == "movie-production"


def test_before_the_shift_production_goes_to_blue_only() -> None:
    config = render(routing(green_weight=0, test=True))
    weighted = config["http"]["services"]["movie-production"]["weighted"]
    assert weighted["services"] == [{"name": "movie-blue", "weight": 1000}]


def test_test_rule_adds_the_header_and_wins_over_production() -> None:
    routers = render(routing(test=True))["http"]["routers"]
    assert routers["movie-test"]["rule"] == (
        "(PathPrefix(`/movie`)) && Header(`X-Bookingapp-Test`, `green`)"
    )
    assert routers["movie-test"]["service"] == "movie-green"
    assert routers["movie-test"]["priority"] > routers["movie-production"]["priority"]


def test_without_test_traffic_there_is_no_test_router() -> None:
    assert "movie-test" not in render(routing(test=False))["http"]["routers"]


def test_a_weight_step_splits_production_between_the_colours() -> None:
    """Traefik's integer weights are tenths of a percent: a 10 % step is 100 to 900."""
    assert weights(routing(green_weight=10)) == {"movie-blue": 900, "movie-green": 100}


@pytest.mark.parametrize(
    ("percent", "blue", "green"), [(0.1, 999, 1), (5, 950, 50), (33.3, 667, 333), (99.9, 1, 999)]
)
def test_every_share_ecs_accepts_is_an_exact_integer_split(
    percent: float, blue: int, green: int
) -> None:
    """ECS takes shares in steps of 0.1 %: each is a whole number of tenths, none rounded off."""
    assert weights(routing(green_weight=percent)) == {"movie-blue": blue, "movie-green": green}


def test_after_the_shift_blue_gets_no_weight_at_all() -> None:
    config = render(routing(green_weight=FULL))
    weighted = config["http"]["services"]["movie-production"]["weighted"]
    assert weighted["services"] == [{"name": "movie-green", "weight": 1000}]
    assert weighted["healthCheck"] == {}


def test_target_groups_list_the_replicas_with_the_labels_health_check() -> None:
    services = render(routing())["http"]["services"]
    blue = services["movie-blue"]["loadBalancer"]
    assert [s["url"] for s in blue["servers"]] == list(BLUE)
    assert blue["healthCheck"] == {"path": "/movie/health", "interval": "1s", "timeout": "1s"}
    assert [s["url"] for s in services["movie-green"]["loadBalancer"]["servers"]] == list(GREEN)


def test_a_colour_without_replicas_gets_no_target_group() -> None:
    services = render(routing(blue=(), green_weight=FULL))["http"]["services"]
    assert "movie-blue" not in services
    assert "movie-green" in services


@pytest.mark.parametrize(
    "changes",
    [
        {"green_weight": 101},
        {"green_weight": -1},
        {"blue": (), "green_weight": 50},
        {"green": (), "green_weight": 10},
        {"green": (), "test": True},
    ],
)
def test_routings_that_send_traffic_nowhere_are_refused(changes: dict) -> None:
    with pytest.raises(ValueError, match=r"green_weight|replicas"):
        routing(**changes)


def test_the_file_is_a_commented_json_document_traefik_reads_as_yaml() -> None:
    text = dump(render(routing(test=True)), "movie")
    header, body = text.split("\n", 1)
    assert header.startswith("# movie's release listener rules")
    assert json.loads(body) == render(routing(test=True))


def test_test_rule_keeps_an_or_rule_together() -> None:
    assert with_test_header("Path(`/a`) || Path(`/b`)").startswith("(Path(`/a`) || Path(`/b`)) && ")
