"""Deregister-then-stop: SIGTERM makes the health path fail while the app keeps serving."""

from __future__ import annotations

import mmap
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from bookingapp_common import drain
from bookingapp_home import create_app
from tests.support import free_port, http_status, start_gunicorn, wait_serving
from tests.unit.conftest import app_config

JSON = {"Accept": "application/json"}


class FakeArbiter:
    """The part of gunicorn's Arbiter the drain uses: handle_term and a logger."""

    def __init__(self) -> None:
        self.stopped = 0
        self.log = self
        self.lines: list[str] = []

    def handle_term(self) -> None:
        """Stand in for the graceful stop: counted, not performed."""
        self.stopped += 1

    def info(self, message: str, *args: object) -> None:
        """Keep what the drain logs."""
        self.lines.append(message % args)


class Kills:
    """Records the signals the drain's timer sends, and when."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, int, float]] = []
        self.done = threading.Event()

    def __call__(self, pid: int, sig: int) -> None:
        """Record the signal instead of sending it."""
        self.sent.append((pid, sig, time.monotonic()))
        self.done.set()


@pytest.fixture
def flag() -> mmap.mmap:
    """A drain flag of the test's own, so the process's shared one stays down."""
    return drain.new_flag()


def test_first_sigterm_marks_draining_and_does_not_stop(flag):
    """The first SIGTERM raises the flag the workers read; gunicorn's stop is not called yet."""
    arbiter, kills = FakeArbiter(), Kills()
    drain.install(arbiter, seconds=30, flag=flag, kill=kills)
    assert drain.draining(flag) is False
    arbiter.handle_term()
    assert drain.draining(flag) is True
    assert arbiter.stopped == 0
    assert kills.sent == []
    assert arbiter.lines == ["SIGTERM: draining 30.0 s (health answers 503), then stopping"]


def test_the_drain_ends_with_a_sigterm_to_the_master_after_the_drain_period(flag):
    """After `seconds` the master gets SIGTERM again, which goes to the graceful stop."""
    arbiter, kills = FakeArbiter(), Kills()
    drain.install(arbiter, seconds=0.3, flag=flag, kill=kills)
    began = time.monotonic()
    arbiter.handle_term()
    assert kills.done.wait(5)
    [(pid, sig, at)] = kills.sent
    assert (pid, sig) == (os.getpid(), signal.SIGTERM)
    assert at - began >= 0.3
    arbiter.handle_term()  # what the master does with that SIGTERM
    assert arbiter.stopped == 1


def test_a_second_sigterm_during_the_drain_stops_at_once(flag):
    """An operator who insists (a second SIGTERM) gets gunicorn's graceful stop straight away."""
    arbiter = FakeArbiter()
    drain.install(arbiter, seconds=30, flag=flag, kill=Kills())
    arbiter.handle_term()
    arbiter.handle_term()
    assert arbiter.stopped == 1


def test_no_drain_seconds_means_the_plain_graceful_stop(flag):
    """BOOKINGAPP_DRAIN_SECONDS=0: SIGTERM stops as gunicorn always did, no flag."""
    arbiter = FakeArbiter()
    drain.install(arbiter, seconds=0, flag=flag, kill=Kills())
    arbiter.handle_term()
    assert arbiter.stopped == 1
    assert drain.draining(flag) is False


# A master that forks a worker, then begins draining; the worker reports what it reads.
WORKER_READS_THE_MASTERS_FLAG = """
import os
from bookingapp_common import drain
ready, go = os.pipe()
pid = os.fork()
if pid == 0:
    os.read(ready, 1)  # until the master has begun
    print(drain.draining(), flush=True)
    os._exit(0)
drain.begin()
os.write(go, b"x")
os.waitpid(pid, 0)
"""


def test_a_worker_forked_before_the_drain_reads_the_masters_flag():
    """Workers fork at start; the drain begins later, in the master, and they see it."""
    # In a child process: forking this multi-threaded test process is unsafe.
    said = subprocess.run(
        [sys.executable, "-c", WORKER_READS_THE_MASTERS_FLAG],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert said == "True\n"


def test_another_servers_drain_is_not_this_ones(flag):
    """Two servers on one host (two masters) never share a flag."""
    drain.begin(flag)
    assert drain.draining(flag) is True
    assert drain.draining(drain.new_flag()) is False
    assert drain.draining() is False


def test_health_answers_503_draining_while_the_page_still_serves(redis_server, redis_client):
    """Draining: /S/health says 503 "draining" (load balancers drop it); the page answers 200."""
    client = create_app(app_config(redis_server.port)).test_client()
    assert client.get("/home/health").status_code == 200
    drain.begin()
    try:
        health = client.get("/home/health")
        page = client.get("/home", headers=JSON)
    finally:
        drain.clear()
    assert health.status_code == 503
    assert health.get_json() == {
        "status": "draining",
        "service": "home",
        "instance": "test-instance",
    }
    assert page.status_code == 200
    assert client.get("/home/health").status_code == 200


@pytest.fixture(params=["", "--reload"], ids=["as-in-the-image", "with-reload"])
def gunicorn(request) -> Iterator[tuple[subprocess.Popen, str]]:
    """Run the real gunicorn config for movie on a free loopback port, drain 2 s.

    Also with --reload (compose.override.yaml), whose workers import the code afresh.
    """
    port = free_port()
    process = start_gunicorn(
        subprocess.DEVNULL,
        BOOKINGAPP_SERVICE="movie",
        PORT=str(port),
        BOOKINGAPP_DRAIN_SECONDS="2",
        GUNICORN_WORKERS="2",
        GUNICORN_CMD_ARGS=request.param,
    )  # no Redis: health never asks it
    base = f"http://127.0.0.1:{port}/movie"
    try:
        wait_serving(process, base + "/health")
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        process.stderr.close()


def test_gunicorn_drains_on_sigterm_then_exits_0(gunicorn):
    """Real gunicorn: after SIGTERM health is 503 and the app still answers, then it exits 0."""
    process, base = gunicorn
    process.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    time.sleep(0.5)
    assert http_status(base + "/health", timeout=2) == 503
    assert (
        http_status(base + "/ready", timeout=2) == 503
    )  # served (Redis is absent here), not refused
    assert process.wait(timeout=15) == 0
    took = time.monotonic() - sent
    assert 2 <= took < 10
