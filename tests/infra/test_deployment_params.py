"""[deployment] in the parameter files: rolling or blue/green, bake time, approval.

Each refusal is a ParamsError naming the file and key; Redis may never be blue/green.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bookingapp_infra.cli import main
from bookingapp_infra.params import (
    DEFAULT_BAKE_TIME_MINUTES,
    ParamsError,
    ServiceParams,
    load_all,
)
from bookingapp_infra.stacks import service_parameters
from tests.infra.test_params import Raw, committed, set_key, write


def load_with(
    tmp_path: Path, *changes: Callable[[dict[str, Raw]], None]
) -> dict[str, ServiceParams]:
    """Load the committed files with changes applied."""
    files = committed()
    for change in changes:
        change(files)
    return load_all(write(tmp_path, files))


def test_services_deploy_rolling_unless_their_file_says_otherwise(
    services: dict[str, ServiceParams],
) -> None:
    for p in services.values():
        assert p.deployment.strategy == "rolling"
        assert p.deployment.approval is False
    assert DEFAULT_BAKE_TIME_MINUTES == 15  # ECS's own default for blue/green


def test_an_app_can_ask_for_blue_green_with_bake_time_and_approval(tmp_path: Path) -> None:
    services = load_with(
        tmp_path,
        set_key("movie", "deployment.strategy", "blue_green"),
        set_key("movie", "deployment.bake_time_minutes", 0),
        set_key("movie", "deployment.approval", True),
    )
    d = services["movie"].deployment
    assert (d.strategy, d.bake_time_minutes, d.approval) == ("blue_green", 0, True)
    sent = service_parameters(services["movie"])
    assert sent["DeploymentStrategy"] == "blue_green"
    assert sent["BakeTimeInMinutes"] == "0"
    assert sent["ApprovalPause"] == "true"
    assert sent["TestPriority"] == str(services["movie"].alb.priority - 1)


def test_redis_is_refused_blue_green_saying_why(tmp_path: Path) -> None:
    with pytest.raises(ParamsError) as caught:
        load_with(tmp_path, set_key("redis", "deployment.strategy", "blue_green"))
    message = str(caught.value)
    assert message.startswith("redis.toml: deployment.strategy 'blue_green' is for apps")
    assert "two Redis tasks at once would split the counter" in message


BROKEN = {
    "unknown strategy": (
        set_key("home", "deployment.strategy", "canary"),
        "home.toml: deployment.strategy must be one of rolling, blue_green, got 'canary'",
    ),
    "upper-case strategy": (
        set_key("home", "deployment.strategy", "BLUE_GREEN"),
        "deployment.strategy must be one of rolling, blue_green",
    ),
    "negative bake time": (
        set_key("home", "deployment.bake_time_minutes", -1),
        "home.toml: deployment.bake_time_minutes must be 0..1440",
    ),
    "bake time over a day": (
        set_key("home", "deployment.bake_time_minutes", 1441),
        "deployment.bake_time_minutes must be 0..1440",
    ),
    "approval on a rolling service": (
        set_key("bus", "deployment.approval", True),
        "bus.toml: deployment.approval pauses a blue/green deployment",
    ),
    "approval as text": (
        set_key("bus", "deployment.approval", "yes"),
        "deployment.approval must be true or false, got str",
    ),
    "bake time as a bool": (
        set_key("bus", "deployment.bake_time_minutes", True),
        "deployment.bake_time_minutes must be an integer, got bool",
    ),
    "strategy as a number": (
        set_key("bus", "deployment.strategy", 2),
        "deployment.strategy must be a string, got int",
    ),
}


@pytest.mark.parametrize(("change", "message"), BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_deployment_table_is_refused_naming_the_key(
    tmp_path: Path, change: Callable[[dict[str, Raw]], None], message: str
) -> None:
    with pytest.raises(ParamsError) as caught:
        load_with(tmp_path, change)
    assert message in str(caught.value)


def test_a_test_rule_priority_held_by_another_rule_is_refused(tmp_path: Path) -> None:
    """Movie's test rule would take 19; bus holding 19 must be caught before AWS does."""
    with pytest.raises(ParamsError) as caught:
        load_with(
            tmp_path,
            set_key("movie", "deployment.strategy", "blue_green"),
            set_key("bus", "alb.priority", 19),
        )
    assert "movie.toml: blue_green needs listener priority 19 for its test rule" in str(
        caught.value
    )
    assert "bus.toml uses it" in str(caught.value)


def test_two_blue_green_apps_with_adjacent_priorities_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="needs listener priority 10"):
        load_with(
            tmp_path,
            set_key("home", "deployment.strategy", "blue_green"),
            set_key("movie", "deployment.strategy", "blue_green"),
            set_key("movie", "alb.priority", 11),
        )


def test_priority_one_leaves_no_room_for_a_test_rule(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match=r"alb\.priority must be at least 2 with blue_green"):
        load_with(
            tmp_path,
            set_key("home", "deployment.strategy", "blue_green"),
            set_key("home", "alb.priority", 1),
        )


def test_plan_shows_a_blue_green_service_with_its_bake_time_and_pause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = committed()
    set_key("movie", "deployment.strategy", "blue_green")(files)
    set_key("movie", "deployment.approval", True)(files)

    assert main(["--services-dir", str(write(tmp_path, files)), "plan"]) == 0

    out = capsys.readouterr().out
    assert "deploys blue/green, bake 15 min, pausing for approval after test traffic" in out
    apps = [name for name, raw in files.items() if raw["kind"] == "app"]
    assert out.count("deploys rolling 100/200 %") == len(apps) - 1  # all but movie
