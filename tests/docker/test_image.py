"""The real image under gunicorn against a real Redis: counting, outages, shutdown."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from testcontainers.core.container import DockerContainer

from tests.docker.conftest import PYTHON_IMAGE, base_url, run_app, wait_until_healthy

pytestmark = pytest.mark.docker


def get(url: str, timeout: float = 10) -> tuple[int, dict, str]:
    """GET as JSON; return status, decoded body and the raw text."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        status = error.code
    return status, json.loads(text), text


def test_a_hit_is_counted_and_names_the_container(home):
    """The page answers with the container id as instance and counts the hit."""
    container, url = home
    _, before, _ = get(f"{url}/home/ready")
    status, body, _ = get(f"{url}/home")
    assert status == 200
    assert body["hits"] == before["hits"] + 1
    hostname = container.get_wrapped_container().attrs["Config"]["Hostname"]
    assert body["instance"] == hostname


def test_concurrent_hits_are_counted_exactly(home):
    """300 requests over 16 connections: 300 distinct consecutive numbers, none lost."""
    _, url = home
    _, before, _ = get(f"{url}/home/ready")
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: get(f"{url}/home"), range(300)))
    assert {status for status, _, _ in answers} == {200}
    hits = sorted(body["hits"] for _, body, _ in answers)
    start = before["hits"]
    assert hits == list(range(start + 1, start + 301))
    _, after, _ = get(f"{url}/home/ready")
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
    status, body, text = get(f"{url}/home/nope")
    assert (status, body["status"]) == (404, 404)
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
        status, body, _ = get(f"{url}/home")
        elapsed = time.monotonic() - started
        assert status == 503
        assert elapsed < 2
        assert "can't count this visit" in body["error"]
        assert get(f"{url}/home/health")[0] == 200
        assert get(f"{url}/home/ready")[0] == 503
    finally:
        redis.start()
    deadline = time.monotonic() + 15
    while get(f"{url}/home")[0] != 200:
        assert time.monotonic() < deadline, "the app did not recover within 15 s of Redis returning"
        time.sleep(0.2)


# A neighbour that answers its readiness after 2 s: it keeps home's requests in flight.
SLOW_NEIGHBOUR = """
import http.server, json, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(2)
        body = json.dumps({"status": "ready", "hits": 0, "instance": "slow"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("0.0.0.0", 5000), H).serve_forever()
"""


def test_sigterm_lets_in_flight_requests_finish_and_exits_0(home_image, network, redis_container):
    """Requests running when SIGTERM arrives complete with 200; gunicorn then exits 0."""
    neighbour = (
        DockerContainer(PYTHON_IMAGE)
        .with_network(network)
        .with_network_aliases("movie.internal-bookingapp.com", "bus.internal-bookingapp.com")
        .with_command(["python", "-c", SLOW_NEIGHBOUR])
    )
    with neighbour:
        app = run_app(home_image, network, NEIGHBOUR_TIMEOUT="5", NEIGHBOUR_MAX_AGE="0.01")
        try:
            url = base_url(app)
            wait_until_healthy(url, "home")
            with ThreadPoolExecutor(max_workers=4) as pool:
                pending = [pool.submit(get, f"{url}/home", 15) for _ in range(4)]
                time.sleep(0.7)  # all four are now waiting on the slow neighbour
                wrapped = app.get_wrapped_container()
                started = time.monotonic()
                wrapped.kill(signal="SIGTERM")
                answers = [p.result() for p in pending]
            outcome = wrapped.wait(timeout=30)
            stopped_after = time.monotonic() - started
        finally:
            app.stop()
    assert [status for status, _, _ in answers] == [200] * 4
    assert all(body["neighbours"][0]["up"] for _, body, _ in answers)
    assert outcome["StatusCode"] == 0
    assert stopped_after < 30
