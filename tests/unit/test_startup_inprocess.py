"""The start-up check, called in this process.

tests/unit/test_startup.py runs it as the image does (gunicorn); those tests stay the proof
that the command works. These call the same functions directly, so each bound, default and
message is pinned, and mutation testing can see which test reaches them. (The container
health check is a script: tests/unit/test_healthcheck.py.)
"""

from __future__ import annotations

import pytest
from flask import Flask

from bookingapp_common import gunicorn_conf, startup
from bookingapp_common.config import ConfigError
from bookingapp_common.startup import EXIT_CONFIG, ServerSettings, server_settings

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
