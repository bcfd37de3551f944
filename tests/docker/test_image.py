"""The real image under gunicorn against a real Redis: counting, outages, shutdown."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from testcontainers.core.container import DockerContainer

from tests.docker.conftest import PYTHON_IMAGE, base_url, run_app, wait_until_healthy
from tests.support import JSON, ROOT, http_get, wait_until

pytestmark = pytest.mark.docker


def test_a_hit_is_counted_and_names_the_container(home):
    """The page answers with the container id as instance and counts the hit."""
    container, url = home
    before = http_get(f"{url}/home/ready", JSON, timeout=10).json()
    page = http_get(f"{url}/home", JSON, timeout=10)
    assert page.status == 200
    body = page.json()
    assert body["hits"] == before["hits"] + 1
    hostname = container.get_wrapped_container().attrs["Config"]["Hostname"]
    assert body["instance"] == hostname


def test_concurrent_hits_are_counted_exactly(home):
    """300 requests over 16 connections: 300 distinct consecutive numbers, none lost."""
    _, url = home
    before = http_get(f"{url}/home/ready", JSON, timeout=10).json()
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: http_get(f"{url}/home", JSON, timeout=10), range(300)))
    assert {answer.status for answer in answers} == {200}
    hits = sorted(answer.json()["hits"] for answer in answers)
    start = before["hits"]
    assert hits == list(range(start + 1, start + 301))
    after = http_get(f"{url}/home/ready", JSON, timeout=10).json()
    assert after["hits"] == start + 300


def test_runs_as_non_root_on_a_read_only_root(home):
    """The process is uid 10001 and cannot write to the root filesystem."""
    container, _ = home
    uid = container.exec(["python", "-c", "import os; print(os.getuid())"])
    assert uid.output.decode().strip() == "10001"
    write = container.exec(["python", "-c", "open('/app/x', 'w')"])
    assert write.exit_code != 0
    assert b"Read-only file system" in write.output


def test_unknown_paths_and_methods_answer_cleanly(home):
    """404 and 405 from gunicorn come back as JSON errors, never a stack trace."""
    _, url = home
    missing = http_get(f"{url}/home/nope", JSON, timeout=10)
    text = missing.body
    assert (missing.status, missing.json()["status"]) == (404, 404)
    request = urllib.request.Request(f"{url}/home", method="DELETE")
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(request, timeout=5)
    assert denied.value.code == 405
    assert "Traceback" not in text + denied.value.read().decode()


def test_redis_outage_gives_quick_503s_then_recovers_by_itself(home, redis_container):
    """Redis stopped: page 503 in < 2 s, liveness 200, readiness 503; back as soon as Redis is."""
    _, url = home
    redis = redis_container.get_wrapped_container()
    redis.stop(timeout=10)
    try:
        started = time.monotonic()
        page = http_get(f"{url}/home", JSON, timeout=10)
        elapsed = time.monotonic() - started
        body = page.json()
        assert page.status == 503
        assert elapsed < 2
        assert "can't count this visit" in body["error"]
        assert http_get(f"{url}/home/health", JSON, timeout=10).status == 200
        assert http_get(f"{url}/home/ready", JSON, timeout=10).status == 503
    finally:
        redis.start()
    wait_until(
        lambda: http_get(f"{url}/home", JSON, timeout=10).status == 200,
        15,
        "the app did not recover after Redis returned",
        interval=0.2,
    )


# A neighbour that answers its readiness after 2 s: it keeps home's requests in flight.
SLOW_NEIGHBOUR = (ROOT / "tests" / "slow_neighbour.py").read_text()


def test_sigterm_lets_in_flight_requests_finish_and_exits_0(home_image, network, redis_container):
    """Requests running when SIGTERM arrives complete with 200; gunicorn then exits 0."""
    neighbour = (
        DockerContainer(PYTHON_IMAGE)
        .with_network(network)
        .with_network_aliases("movie.internal-bookingapp.com", "bus.internal-bookingapp.com")
        .with_env("PORT", "5000")  # where home asks its neighbours by default
        .with_command(["python", "-c", SLOW_NEIGHBOUR])
    )
    with neighbour:
        app = run_app(home_image, network, NEIGHBOUR_TIMEOUT="5", NEIGHBOUR_MAX_AGE="0.01")
        try:
            url = base_url(app)
            wait_until_healthy(url, "home")
            with ThreadPoolExecutor(max_workers=4) as pool:
                pending = [pool.submit(http_get, f"{url}/home", JSON, 15) for _ in range(4)]
                time.sleep(0.7)  # all four are now waiting on the slow neighbour
                wrapped = app.get_wrapped_container()
                started = time.monotonic()
                wrapped.kill(signal="SIGTERM")
                answers = [p.result() for p in pending]
            outcome = wrapped.wait(timeout=30)
            stopped_after = time.monotonic() - started
        finally:
            app.stop()
    assert [answer.status for answer in answers] == [200] * 4
    assert all(answer.json()["neighbours"][0]["up"] for answer in answers)
    assert outcome["StatusCode"] == 0
    assert stopped_after < 30
