"""The start-up check and the container health check, called in this process.

tests/unit/test_startup.py runs both as the image does (gunicorn, `python -m`); those tests
stay the proof that the commands work. These call the same functions directly, so each
bound, default and message is pinned, and mutation testing can see which test reaches them.
"""

from __future__ import annotations

import urllib.error
from typing import ClassVar

import pytest
from flask import Flask

from bookingapp_common import gunicorn_conf, healthcheck, startup
from bookingapp_common.config import ConfigError
from bookingapp_common.startup import EXIT_CONFIG, ServerSettings, server_settings
from tests.stubs import StubHandler, serving
from tests.support import free_port

DRAIN_REFUSAL = (
    "BOOKINGAPP_DRAIN_SECONDS must be a number of seconds from 0 to 19 (the drain and "
    "the 10 s graceful stop must end inside the 30 s stop timeout), got {!r}"
)


def test_unset_server_settings_take_the_image_defaults():
    """Nothing set: port 5000, two workers of eight threads, the 15 s drain."""
    assert server_settings({}) == ServerSettings(5000, 2, 8, 15.0)


def test_each_server_setting_is_read_from_its_own_variable():
    """PORT, GUNICORN_WORKERS, GUNICORN_THREADS and the drain each land in their own field."""
    environ = {
        "PORT": "8080",
        "GUNICORN_WORKERS": "3",
        "GUNICORN_THREADS": "5",
        "BOOKINGAPP_DRAIN_SECONDS": "7",
    }
    assert server_settings(environ) == ServerSettings(8080, 3, 5, 7.0)


@pytest.mark.parametrize(
    ("name", "low", "high", "field"),
    [
        ("PORT", 1, 65535, "port"),
        ("GUNICORN_WORKERS", 1, 32, "workers"),
        ("GUNICORN_THREADS", 1, 256, "threads"),
    ],
)
def test_server_integers_are_accepted_at_both_bounds(name, low, high, field):
    """The lowest and highest allowed values are served as given."""
    assert getattr(server_settings({name: str(low)}), field) == low
    assert getattr(server_settings({name: str(high)}), field) == high


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [("PORT", 1, 65535), ("GUNICORN_WORKERS", 1, 32), ("GUNICORN_THREADS", 1, 256)],
)
def test_server_integers_just_outside_the_bounds_are_refused_with_the_range(name, low, high):
    """One below the lowest or one above the highest is refused, naming the allowed range."""
    for value in (low - 1, high + 1):
        with pytest.raises(ConfigError) as refused:
            server_settings({name: str(value)})
        assert (
            str(refused.value) == f"{name} must be an integer from {low} to {high}, got '{value}'"
        )


def test_a_bad_app_setting_is_refused_before_any_worker_starts():
    """The app's own settings are checked too, so a worker never fails on them later."""
    with pytest.raises(ConfigError, match=r"^REDIS_PORT must be an integer from 1 to 65535"):
        server_settings({"REDIS_PORT": "0"})


@pytest.mark.parametrize(("value", "seconds"), [(" 2.5 ", 2.5), ("0.0", 0.0), ("18.99", 18.99)])
def test_the_drain_is_read_with_surrounding_blanks_ignored(value, seconds):
    """The drain is a number of seconds; blanks around it (a YAML habit) do not matter."""
    assert server_settings({"BOOKINGAPP_DRAIN_SECONDS": value}).drain_seconds == seconds


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_drain_setting_means_the_default(value):
    """An empty or blank variable counts as unset: the 15 s default drain."""
    assert server_settings({"BOOKINGAPP_DRAIN_SECONDS": value}).drain_seconds == 15.0


@pytest.mark.parametrize("value", ["19.01", "-0.01", "nan", "inf", "-inf", "soon"])
def test_a_drain_outside_0_to_19_seconds_is_refused_with_the_reason(value):
    """Too long, negative, not finite or not a number: the refusal gives the range and why."""
    with pytest.raises(ConfigError) as refused:
        server_settings({"BOOKINGAPP_DRAIN_SECONDS": value})
    assert str(refused.value) == DRAIN_REFUSAL.format(value)


def test_settings_or_exit_returns_the_settings_when_they_are_sound(capsys):
    """Sound settings come back unchanged, and nothing is printed."""
    assert startup.settings_or_exit({"PORT": "6000"}) == ServerSettings(port=6000)
    assert capsys.readouterr() == ("", "")


def test_settings_or_exit_prints_one_line_on_stderr_and_exits_78(capsys):
    """A bad setting: one line on stderr naming it, exit code EX_CONFIG, no chained error."""
    with pytest.raises(SystemExit) as stopped:
        startup.settings_or_exit({"GUNICORN_WORKERS": "0"})
    assert stopped.value.code == EXIT_CONFIG == 78
    # `from None`: nothing would print the ConfigError as the cause of the exit.
    assert stopped.value.__cause__ is None
    assert stopped.value.__suppress_context__
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "bookingapp: configuration error: GUNICORN_WORKERS must be an integer from 1 to 32, "
        "got '0'\n"
    )


class Answers(StubHandler):
    """A liveness endpoint that answers with the status its path asks for."""

    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        """Answer /<status>/health with that status (and record the path)."""
        Answers.paths.append(self.path)
        self.answer(int(self.path.split("/")[1]), b'{"status": "ok"}')


def health_check(monkeypatch, service: str, port: str) -> int:
    """Run the health check's main() as the image would, with these two variables."""
    monkeypatch.setenv("BOOKINGAPP_SERVICE", service)
    monkeypatch.setenv("PORT", port)
    return healthcheck.main()


def test_the_health_check_passes_when_liveness_answers_200(monkeypatch, capsys):
    """A 200 from /<service>/health on the given port is healthy: 0, and nothing printed."""
    Answers.paths.clear()
    with serving(Answers) as url:
        port = url.rsplit(":", 1)[1]
        assert health_check(monkeypatch, "200", port) == 0
    assert Answers.paths == ["/200/health"]
    assert capsys.readouterr() == ("", "")


def test_the_health_check_fails_on_any_other_success_status(monkeypatch):
    """A 204 is not the liveness answer: the check fails with 1."""
    with serving(Answers) as url:
        assert health_check(monkeypatch, "204", url.rsplit(":", 1)[1]) == 1


def test_the_health_check_fails_with_the_url_and_reason_on_an_error_status(monkeypatch, capsys):
    """A 503 (draining) is unhealthy: 1, and stderr names the URL and the status."""
    with serving(Answers) as url:
        port = url.rsplit(":", 1)[1]
        assert health_check(monkeypatch, "503", port) == 1
    err = capsys.readouterr().err
    assert err == f"http://127.0.0.1:{port}/503/health: HTTP Error 503: Service Unavailable\n"


def test_the_health_check_fails_with_the_url_when_nothing_listens(monkeypatch, capsys):
    """A refused connection is unhealthy: 1, and stderr says which URL and why."""
    port = str(free_port())
    assert health_check(monkeypatch, "home", port) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"http://127.0.0.1:{port}/home/health: <urlopen error ")
    assert "refused" in err


@pytest.mark.parametrize("service", [None, ""])
def test_the_health_check_fails_without_a_service_name(monkeypatch, capsys, service):
    """No BOOKINGAPP_SERVICE: 1 and one line saying so, and nothing is asked."""
    if service is None:
        monkeypatch.delenv("BOOKINGAPP_SERVICE", raising=False)
    else:
        monkeypatch.setenv("BOOKINGAPP_SERVICE", service)
    monkeypatch.setattr(healthcheck.urllib.request, "urlopen", pytest.fail)
    assert healthcheck.main() == 1
    assert capsys.readouterr() == ("", "BOOKINGAPP_SERVICE is not set\n")


def test_the_health_check_asks_port_5000_within_2_seconds_by_default(monkeypatch, capsys):
    """Without PORT it asks the image's port 5000, and gives the answer 2 s (the check's own)."""
    asked: list[tuple[str, float]] = []

    def refuse(url: str, timeout: float) -> None:
        """Record what was asked, then fail as an unreachable server does."""
        asked.append((url, timeout))
        raise urllib.error.URLError("refused")

    monkeypatch.setenv("BOOKINGAPP_SERVICE", "movie")
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.setattr(healthcheck.urllib.request, "urlopen", refuse)
    assert healthcheck.main() == 1
    assert asked == [("http://127.0.0.1:5000/movie/health", 2)]
    assert (
        capsys.readouterr().err == "http://127.0.0.1:5000/movie/health: <urlopen error refused>\n"
    )


def test_the_health_check_turns_a_socket_error_into_a_failure(monkeypatch, capsys):
    """An OSError that is no URLError (a reset mid-answer) is a failure too, not a traceback."""

    def reset(url: str, timeout: float) -> None:
        """Fail as a connection reset while reading does."""
        raise ConnectionResetError(104, "Connection reset by peer")

    monkeypatch.setenv("BOOKINGAPP_SERVICE", "bus")
    monkeypatch.setenv("PORT", "5001")
    monkeypatch.setattr(healthcheck.urllib.request, "urlopen", reset)
    assert healthcheck.main() == 1
    assert capsys.readouterr().err == (
        "http://127.0.0.1:5001/bus/health: [Errno 104] Connection reset by peer\n"
    )


class Log:
    """Stands in for a gunicorn logger: records warnings."""

    def __init__(self) -> None:
        self.warnings: list[tuple[object, ...]] = []

    def warning(self, *args: object) -> None:
        """Record the warning."""
        self.warnings.append(args)


def test_the_master_arms_the_drain_for_the_configured_time(monkeypatch):
    """When gunicorn's master is ready, the drain is installed on it with the drain setting."""
    installed: list[tuple[object, float]] = []
    monkeypatch.setattr(
        gunicorn_conf.drain, "install", lambda server, seconds: installed.append((server, seconds))
    )
    server = object()
    gunicorn_conf.when_ready(server)
    assert installed == [(server, gunicorn_conf._settings.drain_seconds)]


def test_a_worker_whose_redis_does_not_answer_says_so_and_serves_anyway():
    """No counter to warm (or no answer): one warning, and the worker starts all the same."""

    class Worker:
        wsgi = Flask("no counter")
        log = Log()

    gunicorn_conf.post_worker_init(Worker())
    assert Worker.log.warnings == [
        ("Redis did not answer at worker start; visits will ask it themselves",)
    ]
