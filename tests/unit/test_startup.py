"""gunicorn refuses a bad setting before any worker forks: one line, exit code 78."""

from __future__ import annotations

import shutil

import pytest

from bookingapp_common.startup import EXIT_CONFIG, server_settings
from tests.support import ROOT, free_port, http_get, start_gunicorn, wait_serving, wait_until
from tests.unit.conftest import PASSWORD


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GUNICORN_WORKERS", "0"),
        ("GUNICORN_THREADS", "0"),
        ("PORT", "0"),
        ("REDIS_DB", "99"),
        ("REDIS_PORT", "0"),
        ("NEIGHBOUR_TIMEOUT", "nan"),
        ("NEIGHBOUR_MAX_AGE", "inf"),
        ("NEIGHBOUR_URL_TEMPLATE", "http://{nam}/ready"),
        ("REDIS_PASSWORD_FILE", "/nonexistent/secret"),
        ("REDIS_PASSWORD_FILE", "/dev/null"),
        ("REDIS_TLS", "maybe"),
        ("BOOKINGAPP_DRAIN_SECONDS", "nan"),
        ("BOOKINGAPP_DRAIN_SECONDS", "25"),
        ("BOOKINGAPP_DRAIN_SECONDS", "-1"),
        ("BOOKINGAPP_APPS", "home,,bus"),
        # Accepted before, each breaking a promise once running (issue 20, item 3):
        ("REDIS_HOST", "redis://x:6379"),  # started, healthy, 503 forever
        ("REDIS_HOST", "redis.internal-bookingapp.com:6379"),
        ("NEIGHBOUR_TIMEOUT", "1e10"),  # every home visit a 500, after counting it
        ("NEIGHBOUR_URL_TEMPLATE", "http://{name}." + "x" * 64 + ":5000/{name}/ready"),
        ("NEIGHBOUR_URL_TEMPLATE", "http://{name}..internal:5000/{name}/ready"),
        ("REDIS_SOCKET_TIMEOUT", "1e10"),  # workers crashed with tracebacks (exit 3)
        ("REDIS_SOCKET_TIMEOUT", "3"),  # a 503 after 3.0 s against the 2 s promise
        ("BOOKINGAPP_SERVICE", "Home"),  # a traceback in every worker
        ("BOOKINGAPP_SERVICE", "common"),
        ("GUNICORN_LOGLEVEL", "loud"),
    ],
)
def test_a_bad_setting_stops_gunicorn_with_one_line_and_code_78(name, value):
    """No worker starts: stderr is one line naming the variable; the exit code is EX_CONFIG."""
    process = start_gunicorn(**{name: value})
    try:
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    lines = stderr.strip().splitlines()
    assert process.returncode == EXIT_CONFIG == 78
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"bookingapp: configuration error: {name}")
    assert "Traceback" not in stderr


def test_good_settings_start_gunicorn_and_it_serves():
    """The same command with sound settings serves /home/health (the check is no obstacle)."""
    port = free_port()
    process = start_gunicorn(PORT=str(port), GUNICORN_THREADS="2")
    try:
        wait_serving(process, f"http://127.0.0.1:{port}/home/health")
    finally:
        process.terminate()
        process.communicate(timeout=30)


@pytest.mark.parametrize(("value", "seconds"), [("0", 0.0), ("2.5", 2.5), ("19", 19.0)])
def test_the_drain_can_be_shortened_or_turned_off(value, seconds):
    """BOOKINGAPP_DRAIN_SECONDS from 0 (no drain) to 19 s is what the server drains for."""
    assert server_settings({"BOOKINGAPP_DRAIN_SECONDS": value}).drain_seconds == seconds


def test_the_drain_lasts_15_seconds_when_unset():
    """Unset, the drain outlasts Docker marking the replica unhealthy (drain.py says why)."""
    assert server_settings({}).drain_seconds == 15.0


def test_with_reload_an_edit_to_the_shared_code_reaches_the_next_worker(
    tmp_path, redis_server, redis_client
):
    """The development override's --reload: an edit to common/ is served without a restart.

    config.py is imported by gunicorn's master (to check the settings); before the fix a
    worker forked after the edit still ran the master's copy.
    """
    source = tmp_path / "src"
    shutil.copytree(ROOT / "common" / "src", source, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "home" / "src", source, dirs_exist_ok=True)
    port = free_port()
    process = start_gunicorn(
        PORT=str(port),
        PYTHONPATH=str(source),
        GUNICORN_CMD_ARGS="--reload",
        PYTHONDONTWRITEBYTECODE="1",
        REDIS_PORT=str(redis_server.port),
        REDIS_PASSWORD=PASSWORD,
    )
    page = f"http://127.0.0.1:{port}/home"
    try:
        wait_serving(process, page)
        config = source / "bookingapp_common" / "config.py"
        text = config.read_text()
        assert '"SERVICE_LINKS": (),' in text
        config.write_text(text.replace('"SERVICE_LINKS": (),', '"SERVICE_LINKS": ("edited",),'))

        def edited() -> bool:
            """Say whether the page's nav shows the edited default."""
            try:
                return 'href="/edited"' in http_get(page, timeout=2).body
            except OSError:
                return False

        wait_until(edited, 20, "the edit to config.py was not served", interval=0.5)
    finally:
        process.terminate()
        process.communicate(timeout=30)
