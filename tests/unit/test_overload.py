"""Redis hung, four times more clients than threads: the page and /ready are 503 within 2 s."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from tests.stubs import silent_server
from tests.support import free_port, http_status, start_gunicorn, wait_serving

THREADS = 4
CLIENTS = 4 * THREADS
SECONDS = 6


@pytest.fixture
def home_on_a_hung_redis() -> Iterator[int]:
    """The home app under gunicorn (1 worker x 4 threads), its Redis accepting, never answering."""
    with silent_server(backlog=512) as redis_port:
        yield from serve_home(redis_port)


def serve_home(redis_port: int) -> Iterator[int]:
    """Run home under gunicorn (1 worker x 4 threads) against that Redis; yield its port."""
    port = free_port()
    server = start_gunicorn(
        subprocess.DEVNULL,
        subprocess.DEVNULL,
        PORT=str(port),
        GUNICORN_THREADS=str(THREADS),
        REDIS_PORT=str(redis_port),
        NEIGHBOUR_URL_TEMPLATE=f"http://127.0.0.1:{free_port()}/{{name}}/ready",
    )
    try:
        wait_serving(server, f"http://127.0.0.1:{port}/home/health")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def status(port: int, path: str) -> tuple[int, float]:
    """GET a path; return the status (0 when unreachable) and the seconds it took."""
    started = time.monotonic()
    code = http_status(f"http://127.0.0.1:{port}{path}", timeout=10)
    return code, time.monotonic() - started


def test_page_and_ready_answer_503_within_2_s_at_p99_with_4x_clients(home_on_a_hung_redis):
    """16 clients on 4 threads for 6 s: every answer is a 503, and 99 % come within 2 s."""
    answers: dict[str, list[tuple[int, float]]] = {"/home": [], "/home/ready": []}
    stop = time.monotonic() + SECONDS

    def client(path: str) -> None:
        while time.monotonic() < stop:
            answers[path].append(status(home_on_a_hung_redis, path))

    threads = [
        threading.Thread(target=client, args=("/home" if n % 2 else "/home/ready",))
        for n in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for path, seen in answers.items():
        assert len(seen) > CLIENTS, path
        assert {code for code, _ in seen} == {503}, path
        times = sorted(elapsed for _, elapsed in seen)
        p99 = times[int(len(times) * 0.99) - 1]
        assert p99 < 2, f"{path}: p99 {p99:.2f} s over {len(times)} answers"
