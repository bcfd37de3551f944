"""[deployment] in the parameter files: rolling, blue/green, linear or canary; bake times, approval.

Each refusal is a ParamsError naming the file and key, on one line; Redis may only roll.
The ranges are ECS's (cfn-lint's bundled AWS::ECS::Service schema; tests/infra/test_cfn_lint.py
checks the rendered template against it too).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bookingapp_infra.cli import main
from bookingapp_infra.params import (
    DEFAULT_BAKE_TIME_MINUTES,
    DeploymentParams,
    ParamsError,
    ServiceParams,
    canary_weights,
    linear_weights,
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
        set_key("home", "deployment.strategy", "shadow"),
        "home.toml: deployment.strategy must be one of rolling, blue_green, linear, canary, "
        "got 'shadow'",
    ),
    "upper-case strategy": (
        set_key("home", "deployment.strategy", "BLUE_GREEN"),
        "deployment.strategy must be one of rolling, blue_green, linear, canary",
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
        "bus.toml: deployment.approval pauses a traffic-shifting deployment",
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


# ---------------------------------------------------------------- linear and canary (issue 22)


def test_linear_and_canary_default_to_ecs_own_shares_and_bake_times(tmp_path: Path) -> None:
    """ECS's defaults: linear 10 % every 6 minutes, canary 5 % for 10 minutes."""
    services = load_with(
        tmp_path,
        set_key("movie", "deployment.strategy", "linear"),
        set_key("home", "deployment.strategy", "canary"),
    )
    linear, canary = services["movie"].deployment, services["home"].deployment
    assert (linear.step_percent, linear.step_bake_time_minutes) == (10.0, 6)
    assert linear.production_steps() == (*((10.0 * n, 6) for n in range(1, 10)), (100.0, 0))
    assert (canary.canary_percent, canary.canary_bake_time_minutes) == (5.0, 10)
    assert canary.production_steps() == ((5.0, 10), (100.0, 0))
    assert all(d.shifts_traffic for d in (linear, canary))


def test_a_whole_number_will_do_where_a_share_is_expected(tmp_path: Path) -> None:
    """`step_percent = 25` is TOML's integer 25: read as 25.0, not refused as "not a number"."""
    services = load_with(
        tmp_path,
        set_key("movie", "deployment.strategy", "linear"),
        set_key("movie", "deployment.step_percent", 25),
    )
    d = services["movie"].deployment
    assert d.step_percent == 25.0
    assert isinstance(d.step_percent, float)
    assert d.production_steps() == ((25.0, 6), (50.0, 6), (75.0, 6), (100.0, 0))


@pytest.mark.parametrize(
    ("percent", "weights"),
    [
        (50, (50.0, 100.0)),
        (33.3, (33.3, 66.6, 99.9, 100.0)),
        (3, (*(3.0 * n for n in range(1, 34)), 100.0)),
        (100, (100.0,)),
    ],
)
def test_linear_steps_are_multiples_of_the_share_then_one_hundred(
    percent: float, weights: tuple[float, ...]
) -> None:
    """Counted in tenths as ECS takes them: 33.3 gives 33.3, 66.6, 99.9 and then 100."""
    assert linear_weights(percent) == pytest.approx(weights)


def test_a_canary_of_one_hundred_percent_is_one_step() -> None:
    assert canary_weights(100.0) == (100.0,)
    assert canary_weights(0.1) == (0.1, 100.0)


def test_the_bake_minutes_held_are_the_steps_but_the_last_plus_the_bake_time() -> None:
    """CloudFormation's count: steps below 100 % each held, the last one not (schema text)."""
    linear = DeploymentParams(strategy="linear", step_percent=11, step_bake_time_minutes=2)
    assert linear.bake_minutes() == 9 * 2 + 15  # floor(100 / 11) = 9 steps held
    halves = DeploymentParams(strategy="linear", step_percent=50, step_bake_time_minutes=2)
    assert halves.bake_minutes() == 1 * 2 + 15  # 50 divides 100: (100 / 50) - 1 steps
    canary = DeploymentParams(strategy="canary", canary_bake_time_minutes=7, bake_time_minutes=3)
    assert canary.bake_minutes() == 10
    assert DeploymentParams(strategy="blue_green").bake_minutes() == 15


def test_a_linear_or_canary_app_sends_its_values_to_the_template(tmp_path: Path) -> None:
    services = load_with(
        tmp_path,
        set_key("movie", "deployment.strategy", "linear"),
        set_key("movie", "deployment.step_percent", 33.3),
        set_key("movie", "deployment.step_bake_time_minutes", 1),
    )
    sent = service_parameters(services["movie"])
    assert sent["DeploymentStrategy"] == "linear"
    assert (sent["StepPercent"], sent["StepBakeTimeInMinutes"]) == ("33.3", "1")
    assert sent["TestPriority"] == str(services["movie"].alb.priority - 1)


def linear(**settings: object) -> list[Callable[[dict[str, Raw]], None]]:
    """Changes that make movie linear with these [deployment] values."""
    return [set_key("movie", "deployment.strategy", "linear")] + [
        set_key("movie", f"deployment.{k}", v) for k, v in settings.items()
    ]


def canary(**settings: object) -> list[Callable[[dict[str, Raw]], None]]:
    """Changes that make movie canary with these [deployment] values."""
    return [set_key("movie", "deployment.strategy", "canary")] + [
        set_key("movie", f"deployment.{k}", v) for k, v in settings.items()
    ]


GRADUAL_BROKEN = {
    "step below 3 %": (
        linear(step_percent=2.9),
        "movie.toml: deployment.step_percent must be 3..100 in steps of 0.1, got 2.9",
    ),
    "step above 100 %": (
        linear(step_percent=100.1),
        "movie.toml: deployment.step_percent must be 3..100 in steps of 0.1, got 100.1",
    ),
    "step finer than 0.1 %": (
        linear(step_percent=10.05),
        "movie.toml: deployment.step_percent must be 3..100 in steps of 0.1, got 10.05",
    ),
    "step as text": (
        linear(step_percent="25"),
        "movie.toml: deployment.step_percent must be a number, got str '25'",
    ),
    "step as a bool": (
        linear(step_percent=True),
        "movie.toml: deployment.step_percent must be a number, got bool True",
    ),
    "negative step bake": (
        linear(step_bake_time_minutes=-1),
        "movie.toml: deployment.step_bake_time_minutes must be 0..1440",
    ),
    "step bake over a day": (
        linear(step_bake_time_minutes=1441),
        "movie.toml: deployment.step_bake_time_minutes must be 0..1440",
    ),
    "step bake in fractions": (
        linear(step_bake_time_minutes=1.5),
        "movie.toml: deployment.step_bake_time_minutes must be an integer, got float 1.5",
    ),
    "canary of nothing": (
        canary(canary_percent=0),
        "movie.toml: deployment.canary_percent must be 0.1..100 in steps of 0.1, got 0",
    ),
    "canary finer than 0.1 %": (
        canary(canary_percent=0.05),
        "movie.toml: deployment.canary_percent must be 0.1..100 in steps of 0.1, got 0.05",
    ),
    "canary above 100 %": (
        canary(canary_percent=100.1),
        "movie.toml: deployment.canary_percent must be 0.1..100 in steps of 0.1, got 100.1",
    ),
    "canary bake over a day": (
        canary(canary_bake_time_minutes=1441),
        "movie.toml: deployment.canary_bake_time_minutes must be 0..1440",
    ),
    "linear over 33 hours": (
        linear(step_percent=3, step_bake_time_minutes=70),  # 33 x 70 + 15 = 2325
        "movie.toml: a linear deployment here holds 2325 minutes (its steps' bake times plus "
        "bake_time_minutes); CloudFormation refuses more than 1980 (33 hours)",
    ),
    "canary over 33 hours": (
        canary(canary_bake_time_minutes=1440, bake_time_minutes=541),
        "movie.toml: a canary deployment here holds 1981 minutes",
    ),
    "a linear key on a canary app": (
        canary(step_percent=20),
        "movie.toml: deployment.step_percent is for strategy 'linear', and this file says "
        "'canary': drop it, or set deployment.strategy = 'linear'",
    ),
    "a canary key on a rolling app": (
        [set_key("bus", "deployment.canary_percent", 20)],
        "bus.toml: deployment.canary_percent is for strategy 'canary', and this file says "
        "'rolling': drop it, or set deployment.strategy = 'canary'",
    ),
    "an unknown key": (
        linear(steps=4),
        "movie.toml: unknown key deployment.steps (known: minimum_healthy_percent, "
        "maximum_percent, strategy, bake_time_minutes, approval, step_percent, "
        "step_bake_time_minutes, canary_percent, canary_bake_time_minutes)",
    ),
    "linear for redis": (
        [set_key("redis", "deployment.strategy", "linear")],
        "redis.toml: deployment.strategy 'linear' is for apps behind the ALB",
    ),
    "canary with priority 1": (
        [*canary(), set_key("movie", "alb.priority", 1)],
        "movie.toml: alb.priority must be at least 2 with canary: the test rule",
    ),
}


@pytest.mark.parametrize(("changes", "message"), GRADUAL_BROKEN.values(), ids=GRADUAL_BROKEN)
def test_a_broken_linear_or_canary_table_is_one_line_naming_the_key(
    tmp_path: Path, changes: list[Callable[[dict[str, Raw]], None]], message: str
) -> None:
    with pytest.raises(ParamsError) as caught:
        load_with(tmp_path, *changes)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_thirty_three_hours_exactly_is_still_accepted(tmp_path: Path) -> None:
    """The limit is CloudFormation's "exceeds 33 hours": 1440 + 540 minutes is allowed."""
    services = load_with(tmp_path, *canary(canary_bake_time_minutes=1440, bake_time_minutes=540))
    assert services["movie"].deployment.bake_minutes() == 33 * 60


def test_a_key_left_at_ecs_default_is_no_leftover(tmp_path: Path) -> None:
    """step_percent = 10 on a canary app changes nothing either way: let it through."""
    services = load_with(tmp_path, *canary(step_percent=10))
    assert services["movie"].deployment.strategy == "canary"


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        (linear(step_percent=25, step_bake_time_minutes=2), "deploys linear, production "
         "25 % for 2 min, 50 % for 2 min, 75 % for 2 min, 100 %, bake 15 min"),
        (canary(canary_percent=10, bake_time_minutes=0), "deploys canary, production "
         "10 % for 10 min, 100 %, bake 0 min"),
    ],
)  # fmt: skip
def test_plan_shows_how_production_moves_step_by_step(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    changes: list[Callable[[dict[str, Raw]], None]],
    words: str,
) -> None:
    files = committed()
    for change in changes:
        change(files)
    assert main(["--services-dir", str(write(tmp_path, files)), "plan"]) == 0
    assert words in capsys.readouterr().out
