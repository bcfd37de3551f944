"""The blue/green verbs' parameters and refusals, before any container is touched (no Docker).

Each refusal here happens before the CLI asks Docker anything, so these run everywhere; the
refusals that need a stack (not up, no image, busy) are in test_bluegreen_release.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bookingapp_infra.errors import InputError
from bookingapp_infra.local import cli
from bookingapp_infra.local.bluegreen import Deployment, deployment_settings
from bookingapp_infra.local.bluegreen_controller import alive

APP = """
name = "movie"
kind = "app"
"""


def services_dir(tmp_path: Path, deployment: str = "", kind: str = "app") -> Path:
    """A services directory with one movie.toml carrying the given [deployment] table."""
    text = APP.replace('"app"', f'"{kind}"') + (
        f"\n[deployment]\n{deployment}\n" if deployment else ""
    )
    (tmp_path / "movie.toml").write_text(text)
    return tmp_path


def test_a_service_without_deployment_keys_is_rolling_with_ecs_default_bake_time(tmp_path):
    assert deployment_settings("movie", services_dir(tmp_path)) == Deployment(
        strategy="rolling", bake_time_minutes=15, approval=False
    )


def test_the_three_keys_are_read_with_the_aws_names(tmp_path):
    found = deployment_settings(
        "movie",
        services_dir(
            tmp_path,
            'strategy = "blue_green"\nbake_time_minutes = 5\napproval = true\n'
            "minimum_healthy_percent = 100",
        ),
    )
    assert found == Deployment(strategy="blue_green", bake_time_minutes=5, approval=True)


@pytest.mark.parametrize(
    ("deployment", "message"),
    [
        ('strategy = "canary"', "deployment.strategy must be one of"),
        ("bake_time_minutes = 1441", "0..1440"),
        ("bake_time_minutes = -1", "0..1440"),
        ('bake_time_minutes = "5"', "a number of minutes"),
        ("bake_time_minutes = true", "a number of minutes"),
        ("bake_time_minutes = 0.5", "a number of minutes"),
        ('approval = "yes"', "true or false"),
    ],
)
def test_values_aws_would_refuse_are_refused_here(tmp_path, deployment, message):
    with pytest.raises(InputError, match=message):
        deployment_settings("movie", services_dir(tmp_path, deployment))


def test_a_backing_service_stays_rolling(tmp_path):
    with pytest.raises(InputError, match="stays on rolling releases"):
        deployment_settings("movie", services_dir(tmp_path, kind="backing"))


def test_an_unknown_service_is_named_with_the_known_ones(tmp_path):
    with pytest.raises(InputError, match=r"unknown service 'film' \(known: movie\)"):
        deployment_settings("film", services_dir(tmp_path))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run bookingapp-local in process; return the exit code and its stderr."""
    code = cli.main(list(argv))
    return code, capsys.readouterr().err


def test_redis_refuses_a_blue_green_release(capsys):
    code, err = run(capsys, "release", "redis", "--image", "x", "--strategy", "blue_green")
    assert code == 2
    assert "stays on rolling releases" in err
    assert len(err.strip().splitlines()) == 1


def test_blue_green_options_are_refused_for_a_rolling_release(capsys):
    code, err = run(
        capsys, "release", "movie", "--image", "x", "--strategy", "rolling", "--approval"
    )
    assert code == 2
    assert "--approval: only for blue_green releases" in err


@pytest.mark.parametrize("steps", ["50", "50,20,100", "0,100", "ten"])
def test_traffic_steps_must_rise_to_one_hundred(capsys, steps):
    code, err = run(
        capsys, "release", "movie", "--image", "x", "--strategy", "blue_green",
        "--traffic-steps", steps,
    )  # fmt: skip
    assert code == 2
    assert "--traffic-steps" in err


def test_a_bake_time_override_is_held_to_the_same_range(capsys):
    code, err = run(
        capsys, "release", "movie", "--image", "x", "--strategy", "blue_green",
        "--bake-time-minutes", "2000",
    )  # fmt: skip
    assert code == 2
    assert "0..1440" in err


def test_status_of_a_service_and_the_new_verbs_are_listed():
    parser = cli.parser()
    args = parser.parse_args(["status", "movie", "--project", "p"])
    assert (args.service, args.project) == ("movie", "p")
    assert parser.parse_args(["status"]).service is None
    for verb in ("approve", "rollback"):
        assert parser.parse_args([verb, "movie"]).service == "movie"


def test_a_release_controller_is_alive_while_its_process_runs():
    assert alive(os.getpid())
    assert not alive(0)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    assert not alive(gone.pid)
