"""`release` follows the service's params, refuses what cannot be right, and holds the service.

The refusals here happen before the CLI asks Docker anything (or against stand-in replicas),
so these run everywhere; the ones that need a stack are in test_rolling.py and
test_blue_green.py, and the journeys (tests/local/test_journeys.py) chain real releases.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bookingapp_infra import params
from bookingapp_infra.errors import InfraError, InputError
from bookingapp_infra.local import service_lock
from bookingapp_infra.local.cli import main
from bookingapp_infra.local.service_lock import ServiceLock
from bookingapp_infra.local.strategies import release as releases
from bookingapp_infra.local.strategies.blue_green import BlueGreen
from bookingapp_infra.local.strategies.rolling import Rolling
from bookingapp_infra.local.strategies.strategy import Overrides
from tests.compose.stack import Stack
from tests.infra.test_params import committed, set_key, write
from tests.local.fakes import replica
from tests.support import ROOT


def services_dir(tmp_path: Path, **movie_deployment: object) -> Path:
    """The committed parameter files, movie's [deployment] given these values."""
    files = committed()
    for key, value in movie_deployment.items():
        set_key("movie", f"deployment.{key}", value)(files)
    return write(tmp_path, files)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run bookingapp-local in process; return the exit code and its stderr."""
    code = main(list(argv))
    return code, capsys.readouterr().err


def test_every_strategy_params_accepts_has_a_local_release():
    """params.py declares the strategies once; the local registry covers exactly those."""
    assert sorted(releases.STRATEGIES) == sorted(params.STRATEGIES)


def test_a_service_is_released_by_the_strategy_its_params_name(tmp_path):
    """movie.toml in the services directory given, not the committed one, decides."""
    chosen = releases.choose(releases.app("movie", services_dir(tmp_path)), Overrides())
    assert isinstance(chosen, Rolling)
    (tmp_path / "bg").mkdir()
    blue_green = services_dir(tmp_path / "bg", strategy="blue_green", approval=True)
    chosen = releases.choose(releases.app("movie", blue_green), Overrides())
    assert isinstance(chosen, BlueGreen)
    assert chosen.approval


def test_the_strategy_option_overrides_the_params(tmp_path):
    blue_green = services_dir(tmp_path, strategy="blue_green", approval=True)
    chosen = releases.choose(releases.app("movie", blue_green), Overrides(strategy="rolling"))
    assert isinstance(chosen, Rolling)


def test_an_unknown_service_is_named_with_the_known_ones(tmp_path):
    known = ", ".join(sorted(committed()))
    with pytest.raises(InputError, match=rf"^unknown service 'film': one of {known}$"):
        releases.app("film", services_dir(tmp_path))


def test_a_broken_parameter_file_is_one_line_naming_it(tmp_path, capsys):
    directory = services_dir(tmp_path, strategy="shadow")
    code, err = run(capsys, "release", "movie", "--image", "x", "--services-dir", str(directory))
    assert code == 2
    assert err == (
        "bookingapp-local: error: movie.toml: deployment.strategy must be one of rolling, "
        "blue_green, linear, canary, got 'shadow'\n"
    )


def test_a_parameter_file_that_is_not_utf8_is_one_line_not_a_traceback(tmp_path, capsys):
    directory = services_dir(tmp_path)
    (directory / "movie.toml").write_bytes(b'name = "movi\xe9"\n')
    code, err = run(capsys, "release", "movie", "--image", "x", "--services-dir", str(directory))
    assert code == 2
    assert err == (
        "bookingapp-local: error: movie.toml: not UTF-8 text (byte 12): TOML files must be UTF-8\n"
    )


def test_redis_refuses_a_blue_green_release(capsys):
    code, err = run(capsys, "release", "redis", "--image", "x", "--strategy", "blue_green")
    assert code == 2
    assert "redis.toml: deployment.strategy 'blue_green' is for apps behind the ALB" in err
    assert len(err.strip().splitlines()) == 1


def test_redis_is_not_rolled_locally_either(capsys):
    """Nothing routes to Redis through Traefik: the local release has nothing to watch."""
    code, err = run(capsys, "release", "redis", "--image", "x")
    assert (code, err) == (
        2,
        "bookingapp-local: error: redis is not behind the load balancer: nothing to roll\n",
    )


SHIFTING = "blue_green, linear or canary"


@pytest.mark.parametrize(
    ("option", "value", "owners"),
    [
        ("--approval", None, SHIFTING),
        ("--bake-time-minutes", "1", SHIFTING),
        ("--approval-timeout", "60", SHIFTING),
        ("--traffic-steps", "50,100", "blue_green"),
        ("--step-seconds", "3", "blue_green"),
        ("--step-percent", "25", "linear"),
        ("--step-bake-time-minutes", "0.1", "linear"),
        ("--canary-percent", "10", "canary"),
        ("--canary-bake-time-minutes", "0.1", "canary"),
    ],
)
def test_traffic_shifting_options_are_refused_for_a_rolling_release(capsys, option, value, owners):
    given = [option] if value is None else [option, value]
    code, err = run(capsys, "release", "movie", "--image", "x", "--strategy", "rolling", *given)
    assert code == 2
    assert err == (
        f"bookingapp-local: error: {option}: only for {owners} releases (movie is rolling)\n"
    )


def test_replicas_serving_the_development_override_are_not_released(monkeypatch):
    """compose.override.yaml mounts the sources: say so, and how to run the real topology."""
    mounted = replica(
        "movie",
        binds=(
            ("/src/compose/dev-redis-password", "/run/secrets/redis_password"),
            ("/src/movie/src", "/dev-src/movie/src"),
        ),
    )
    with pytest.raises(InputError) as refused:
        releases.refuse_development_sources([mounted], "demo")
    assert str(refused.value) == (
        "movie's replicas run bind-mounted sources (/src/movie/src at /dev-src/movie/src, from "
        "the development override): whatever image they run, they serve the files on disk, "
        "so a release would change nothing you could see. Run the production topology: "
        "docker compose -p demo -f compose.yaml up -d --build"
    )


def test_replicas_with_only_their_secrets_mounted_are_released():
    """compose.yaml alone bind-mounts the Redis password file: that is no source."""
    secret = replica("movie", binds=(("/src/pw", "/run/secrets/redis_password"),))
    releases.refuse_development_sources([secret], "demo")  # no refusal


@pytest.mark.docker
def test_a_stack_started_with_the_development_override_is_not_released(capsys):
    """`docker compose up` as the quick start says: the override's mounts are recognised."""
    stack = Stack(overlays=(ROOT / "compose.override.yaml",), prefix="bookingapp-devmounts")
    try:
        stack.up("redis", "movie")
        [running, *_] = [c["Config"]["Image"] for c in stack.containers("movie")]
        before = [c["Id"] for c in stack.containers("movie")]
        code, err = run(capsys, "release", "movie", "--image", running, "--project", stack.project)
        assert code == 2
        assert err.startswith(
            "bookingapp-local: error: movie's replicas run bind-mounted sources ("
        ), err
        assert err.endswith(
            f"Run the production topology: docker compose -p {stack.project} -f compose.yaml "
            "up -d --build\n"
        )
        assert "/dev-src/" in err
        assert [c["Id"] for c in stack.containers("movie")] == before
    finally:
        stack.down()


def test_the_readme_gives_one_release_command_per_strategy():
    """The README's releases section has a `release ... --strategy S` line per strategy, once."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Releases", 1)[1].split("\n## ", 1)[0]
    for name in params.STRATEGIES:
        lines = [
            line
            for line in section.splitlines()
            if line.startswith("uv run bookingapp-local release ") and f"--strategy {name} " in line
        ]
        assert len(lines) == 1, (name, lines)
    assert "docs/releases.md" in readme


class Recording:
    """A strategy that only notes whether the service was held while it ran."""

    def __init__(self, project: str) -> None:
        self.project = project
        self.held_while_running: bool | None = None

    def release(self, project: str, image: str, timeout: float, say: object) -> None:
        """Note whether anyone else could have taken the service's lock meanwhile."""
        other = ServiceLock(self.project, "movie")
        self.held_while_running = not other.try_acquire("test")
        other.release()


@pytest.fixture
def stand_in_release(monkeypatch, tmp_path) -> Recording:
    """release() with every Docker check passing and a recording strategy; locks in tmp_path."""
    strategy = Recording("demo")
    monkeypatch.setattr(service_lock, "lock_dir", lambda: tmp_path)
    monkeypatch.setattr(releases, "choose", lambda params, overrides: strategy)
    monkeypatch.setattr(releases.docker, "require_up", lambda project, service: [replica("movie")])
    monkeypatch.setattr(releases.docker, "image_id", lambda image: "sha256:new")
    monkeypatch.setattr(releases.traffic_shift, "refuse_if_busy", lambda project, service: None)
    return strategy


def test_a_release_holds_the_service_while_its_strategy_runs(stand_in_release):
    releases.release("demo", "movie", "movie:v2", Overrides(), timeout=5, say=print)
    assert stand_in_release.held_while_running is True
    assert ServiceLock("demo", "movie").try_acquire("after")  # and let go at the end


def test_a_release_waits_for_a_scaling_in_flight_and_gives_up_at_its_timeout(stand_in_release):
    """Nothing is touched: the strategy never starts, the error is one line, exit 1."""
    scaling = ServiceLock("demo", "movie")
    assert scaling.try_acquire("bookingapp-local autoscale, scaling to 4 replicas")
    said: list[str] = []
    with pytest.raises(InfraError) as waited:
        releases.release("demo", "movie", "movie:v2", Overrides(), timeout=1, say=said.append)
    assert waited.value.exit_code == 1
    assert str(waited.value).startswith(
        "movie is still being changed after 1 s (bookingapp-local autoscale, scaling to 4"
    )
    assert said[0].startswith("waiting for the change to movie in progress to end: ")
    assert stand_in_release.held_while_running is None  # the strategy never ran
    scaling.release()
