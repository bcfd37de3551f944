"""What the ALB forwards reaches the app: gunicorn answers nothing of its own below those limits.

gunicorn's own error pages carry none of the app's promises (security headers, a request id,
a JSON access line). The ALB forwards a request line and any one header up to 16 KB and a
head up to 64 KB; these requests are well inside that, and each must be the app's answer.
A visitor's scheme headers are not believed by gunicorn either: only ProxyFix reads the
ALB's X-Forwarded-Proto, so a contradicting X-Forwarded-Ssl cannot make the page a 400.
"""

from __future__ import annotations

import http.client
import json
import subprocess
from collections.abc import Iterator

import pytest

from bookingapp_common.security import HEADERS
from tests.support import free_port, start_gunicorn, wait_serving


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[int, subprocess.Popen]]:
    """Run gunicorn with the image's config (one worker); yield its port and process."""
    port = free_port()
    process = start_gunicorn(PORT=str(port), GUNICORN_THREADS="2")
    try:
        wait_serving(process, f"http://127.0.0.1:{port}/home/health")
        yield port, process
    finally:
        process.terminate()
        process.communicate(timeout=30)


def ask(port: int, path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    """Send one GET with the given headers; return the answer, body read."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path, headers=headers)
    answer = connection.getresponse()
    answer.read()
    connection.close()
    return answer


REQUESTS = {
    # gunicorn's default limit_request_line is 4094 bytes; the ALB forwards up to 16 KB.
    "long-query": ("/home/health?q=" + "x" * 12_000, {}),
    # gunicorn's default limit_request_field_size is 8190 bytes; the ALB's is 16 KB per header.
    "large-cookie": ("/home/health", {"Cookie": "session=" + "c" * 14_000}),
    # gunicorn's default limit_request_fields is 100; 64 KB of head holds many more.
    "many-headers": ("/home/health", {f"X-Custom-{n}": "1" for n in range(150)}),
    # With forwarded_allow_ips="*" and gunicorn's secure_scheme_headers, this was a 400.
    "contradicting-scheme": (
        "/home/health",
        {"X-Forwarded-Proto": "http", "X-Forwarded-Ssl": "on", "X-Forwarded-Protocol": "ssl"},
    ),
}


@pytest.mark.parametrize("kind", sorted(REQUESTS))
def test_a_request_the_alb_forwards_gets_the_apps_answer_with_its_promises(server, kind):
    """200 from the app: every security header and a request id, not gunicorn's bare 400."""
    port, _ = server
    path, headers = REQUESTS[kind]
    answer = ask(port, path, headers)
    assert answer.status == 200
    for name, value in HEADERS.items():
        assert answer.getheader(name) == value, name
    assert answer.getheader("X-Request-Id")


def test_each_of_those_requests_has_its_json_access_line(server):
    """The app wrote one JSON access line for each (read from gunicorn's stdout at the end)."""
    port, process = server
    ids = [ask(port, *REQUESTS[kind]).getheader("X-Request-Id") for kind in sorted(REQUESTS)]
    process.terminate()
    stdout, _ = process.communicate(timeout=30)
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    logged = {line.get("request_id"): line for line in lines if line.get("message") == "request"}
    for request_id in ids:
        assert logged[request_id]["status"] == 200
        assert logged[request_id]["path"] == "/home/health"
