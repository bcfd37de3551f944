"""The container health check, `bookingapp-healthcheck`, run as Docker and ECS run it.

A bash script (common/bin/): every replica runs it every 4 s, so it must cost no Python
start. These run the very file the image installs, against fake liveness endpoints.
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import ClassVar

import pytest

from tests.stubs import StubHandler, serving, silent_server
from tests.support import ROOT, free_port

SCRIPT = ROOT / "common" / "bin" / "bookingapp-healthcheck"


class Answers(StubHandler):
    """A liveness endpoint that answers with the status its path asks for."""

    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        """Answer /<status>/health with that status (and record the path)."""
        Answers.paths.append(self.path)
        self.answer(int(self.path.split("/")[1]), b'{"status": "ok"}')


def health_check(**env: str | None) -> subprocess.CompletedProcess[str]:
    """Run the script with these variables (None: unset) and return what it did."""
    environ = {k: v for k, v in os.environ.items() if k not in {"BOOKINGAPP_SERVICE", "PORT"}}
    environ.update({k: v for k, v in env.items() if v is not None})
    return subprocess.run(
        [str(SCRIPT)], env=environ, capture_output=True, text=True, timeout=10, check=False
    )


def port_of(url: str) -> str:
    """Return the port of a stub's base URL."""
    return url.rsplit(":", 1)[1]


def test_the_health_check_passes_when_liveness_answers_200():
    """A 200 from /<service>/health on the given port is healthy: 0, and nothing printed."""
    Answers.paths.clear()
    with serving(Answers) as url:
        done = health_check(BOOKINGAPP_SERVICE="200", PORT=port_of(url))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert Answers.paths == ["/200/health"]


@pytest.mark.parametrize("status", [204, 301, 404, 500])
def test_the_health_check_fails_on_any_other_status(status):
    """Only 200 is the liveness answer: anything else fails with 1."""
    with serving(Answers) as url:
        assert health_check(BOOKINGAPP_SERVICE=str(status), PORT=port_of(url)).returncode == 1


def test_the_health_check_fails_with_the_url_and_status_on_an_error_status():
    """A 503 (draining) is unhealthy: 1, and stderr names the URL and the status line."""
    with serving(Answers) as url:
        port = port_of(url)
        done = health_check(BOOKINGAPP_SERVICE="503", PORT=port)
    assert done.returncode == 1
    assert done.stderr == f"http://127.0.0.1:{port}/503/health: HTTP/1.0 503 Service Unavailable\n"


def test_the_health_check_fails_with_the_url_when_nothing_listens():
    """A refused connection is unhealthy: 1, and stderr says which URL and why."""
    port = str(free_port())
    done = health_check(BOOKINGAPP_SERVICE="home", PORT=port)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"http://127.0.0.1:{port}/home/health: connection refused\n"


def test_the_health_check_gives_a_silent_app_2_seconds_then_fails():
    """An app that accepts and never answers fails the check after 2 s, inside Docker's 3 s."""
    with silent_server() as port:
        started = time.monotonic()
        done = health_check(BOOKINGAPP_SERVICE="movie", PORT=str(port))
        waited = time.monotonic() - started
    assert done.returncode == 1
    assert done.stderr == f"http://127.0.0.1:{port}/movie/health: no answer within 2 s\n"
    assert 1.9 <= waited < 3


@pytest.mark.parametrize("service", [None, ""])
def test_the_health_check_fails_without_a_service_name(service):
    """No BOOKINGAPP_SERVICE: 1 and one line saying so."""
    done = health_check(BOOKINGAPP_SERVICE=service, PORT="1")
    assert (done.returncode, done.stderr) == (1, "BOOKINGAPP_SERVICE is not set\n")


def test_the_health_check_asks_port_5000_by_default():
    """Without PORT it asks the image's port 5000."""
    done = health_check(BOOKINGAPP_SERVICE="bus", PORT=None)
    # Nothing listens on 5000 in a test run; the message names the URL it asked.
    assert done.stderr.startswith("http://127.0.0.1:5000/bus/health: ")
