"""Canary releases set up from the params and the options, without Docker.

Through the real Traefik, the canary's share is measured in test_traffic_shift.py.
"""

from __future__ import annotations

import pytest

from bookingapp_infra.local.cli import main
from bookingapp_infra.local.strategies.state import Shift
from bookingapp_infra.local.strategies.strategy import Overrides
from bookingapp_infra.local.strategies.traffic_shift import Canary
from bookingapp_infra.params import ParamsError
from tests.local.strategies.test_linear import movie


def test_a_canary_release_takes_its_share_and_hold_from_the_params():
    release = Canary.configure(
        movie(strategy="canary", canary_percent=12.5, canary_bake_time_minutes=3), Overrides()
    )
    assert release.shifts == (Shift(12.5, 180.0), Shift(100))


def test_without_settings_it_is_ecs_five_percent_for_ten_minutes():
    release = Canary.configure(movie(strategy="canary"), Overrides())
    assert release.shifts == (Shift(5.0, 600.0), Shift(100))


def test_the_options_override_the_params_for_one_release():
    given = Overrides(canary_percent=10, canary_bake_time_minutes=0.1, approval=True)
    release = Canary.configure(movie(strategy="canary"), given)
    assert release.shifts == (Shift(10, pytest.approx(6.0)), Shift(100))
    assert release.approval


def test_a_canary_of_everything_is_one_shift():
    assert Canary.configure(movie(), Overrides(canary_percent=100)).shifts == (Shift(100),)


@pytest.mark.parametrize("percent", [0, 0.05, 100.1])
def test_a_canary_share_outside_ecs_range_is_refused(percent):
    with pytest.raises(ParamsError, match=r"^--canary-percent: .*0\.1\.\.100 in steps of 0\.1"):
        Canary.configure(movie(), Overrides(canary_percent=percent))


def test_the_cli_refuses_a_linear_option_on_a_canary_release(capsys):
    argv = ["release", "movie", "--image", "x", "--strategy", "canary", "--step-percent", "20"]
    code = main(argv)
    assert code == 2
    assert capsys.readouterr().err == (
        "bookingapp-local: error: --step-percent: only for linear releases (movie is canary)\n"
    )
