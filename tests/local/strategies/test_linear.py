"""Linear releases set up from the params and the options, without Docker.

Through the real Traefik, the steps are measured in test_traffic_shift.py.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from bookingapp_infra.local.cli import main
from bookingapp_infra.local.strategies import release as releases
from bookingapp_infra.local.strategies.state import Shift
from bookingapp_infra.local.strategies.strategy import Overrides
from bookingapp_infra.local.strategies.traffic_shift import Linear
from bookingapp_infra.params import ParamsError, ServiceParams, load_all


def movie(**deployment: object) -> ServiceParams:
    """Return movie's committed params with these [deployment] values."""
    params = load_all()["movie"]
    return replace(params, deployment=replace(params.deployment, **deployment))


def test_a_linear_release_takes_its_steps_from_the_params():
    """ECS's LINEAR: 25 % at a time, each step but the last held step_bake_time_minutes."""
    release = Linear.configure(
        movie(strategy="linear", step_percent=25.0, step_bake_time_minutes=2), Overrides()
    )
    assert release.shifts == (Shift(25, 120.0), Shift(50, 120.0), Shift(75, 120.0), Shift(100))
    assert release.bake_seconds == 15 * 60


def test_without_settings_it_is_ecs_ten_percent_every_six_minutes():
    release = Linear.configure(movie(strategy="linear"), Overrides())
    assert [s.weight for s in release.shifts] == pytest.approx([10 * n for n in range(1, 11)])
    assert {s.bake_seconds for s in release.shifts[:-1]} == {360.0}
    assert release.shifts[-1].bake_seconds == 0.0


def test_the_options_override_the_params_for_one_release():
    """Fractions of a minute are taken on the command line, for trying a release out."""
    given = Overrides(step_percent=50, step_bake_time_minutes=0.05, bake_time_minutes=0)
    release = Linear.configure(movie(strategy="linear", step_percent=25.0), given)
    assert release.shifts == (Shift(50, pytest.approx(3.0)), Shift(100))
    assert release.bake_seconds == 0


def test_the_strategy_option_makes_a_rolling_service_linear():
    chosen = releases.choose(movie(), Overrides(strategy="linear", step_percent=33.3))
    assert isinstance(chosen, Linear)
    assert [s.weight for s in chosen.shifts] == pytest.approx([33.3, 66.6, 99.9, 100])


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (Overrides(step_percent=2), r"^--step-percent: deployment\.step_percent must be 3\.\.100"),
        (Overrides(step_percent=10.05), r"^--step-percent: .* in steps of 0\.1, got 10\.05$"),
        (
            Overrides(step_bake_time_minutes=1441),
            r"^--step-bake-time-minutes: deployment\.step_bake_time_minutes must be 0\.\.1440$",
        ),
    ],
)
def test_an_option_is_held_to_ecs_range(given, message):
    with pytest.raises(ParamsError, match=message):
        Linear.configure(movie(strategy="linear"), given)


def test_a_backing_service_cannot_be_released_linear():
    with pytest.raises(ParamsError, match=r"^redis.toml: deployment.strategy 'linear' is for apps"):
        Linear.configure(load_all()["redis"], Overrides())


def test_the_cli_refuses_an_out_of_range_step_on_one_line_before_docker(capsys):
    code = main(["release", "movie", "--image", "x", "--strategy", "linear", "--step-percent", "2"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        "bookingapp-local: error: --step-percent: deployment.step_percent must be 3..100 in "
        "steps of 0.1, got 2\n"
    )


def test_release_help_lists_the_linear_and_canary_options_beside_their_strategy(capsys):
    with pytest.raises(SystemExit):
        main(["release", "--help"])
    out = capsys.readouterr().out
    for option in (
        "--step-percent PERCENT",
        "--step-bake-time-minutes MINUTES",
        "--canary-percent PERCENT",
        "--canary-bake-time-minutes MINUTES",
    ):
        assert option in out
    assert "{blue_green,canary,linear,rolling}" in out
