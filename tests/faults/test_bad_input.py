"""Bad input: generated odd, malformed and oversized requests never get a 500 or a traceback.

The requests are raw bytes over a socket, so malformed ones (bad encodings, broken request
lines, huge headers) reach gunicorn exactly as written; no HTTP client tidies them up.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.faults.stack import raw_request
from tests.support import JSON, http_get

pytestmark = pytest.mark.docker

FUZZ = settings(
    max_examples=1000,
    deadline=None,
    database=None,  # no example database written into the repo
    suppress_health_check=[HealthCheck.too_slow],
)
STATUS = re.compile(rb"^HTTP/1\.[01] (\d{3}) ")
LEAKS = (b"Traceback", b'File "/', b"werkzeug.", b"redis.exceptions")

METHODS = st.sampled_from(
    [b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"TRACE", b"CONNECT"]
) | st.binary(min_size=1, max_size=12)
PREFIXES = st.sampled_from(
    [b"/movie", b"/movie/", b"/movie/health", b"/movie/ready", b"/", b"//movie", b"/movie/..", b""]
)
SUFFIXES = (
    st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass"))
    | st.binary(max_size=40)  # invalid UTF-8, control bytes, NULs
    | st.sampled_from([b"%ff%fe", b"%c0%af", b"%00", b"%", b"%zz", b"?a=%ff", b"#x", b"/../../etc"])
)
HEADER_NAMES = st.sampled_from(
    [b"Accept", b"Accept-Encoding", b"Accept-Language", b"X-Forwarded-For", b"X-Forwarded-Proto",
     b"X-Forwarded-Port", b"Cookie", b"Content-Length", b"Transfer-Encoding", b"Range",
     b"If-None-Match", b"User-Agent", b"Expect", b"Content-Type"]
) | st.binary(min_size=1, max_size=20)  # fmt: skip
HUGE = st.integers(min_value=1000, max_value=40000).map(lambda n: b"x" * n)
HEADER_VALUES = st.binary(max_size=60) | st.text(max_size=60).map(str.encode) | HUGE
ACCEPTS = st.sampled_from(
    [b"application/json", b"text/html", b"*/*", b"", b"application/json;q=abc",
     b"text/html;q=0.1, application/json;q=0.9", b"application/*", b"image/png",
     b"application/json, text/html", b"text/html;level=1;q=0.5, */*;q=0.1"]
) | st.text(max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass"))  # fmt: skip


@pytest.fixture(scope="module")
def movie(stack) -> str:
    """Return the address of movie's first replica."""
    return stack.addresses("movie")[0]


def check_answer(answer: bytes) -> None:
    """The answer is not a server error and shows nothing of the internals."""
    status = STATUS.match(answer)
    if status:  # gunicorn may also just close a connection it cannot parse at all
        code = int(status.group(1))
        # 501 is gunicorn's parser refusing a transfer coding it does not implement, as
        # RFC 9112 section 6.1 asks; anything else 5xx would be the service failing.
        assert code < 500 or code == 501, answer[:300]
    for leak in LEAKS:
        assert leak not in answer, answer[:2000]


def request(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """Assemble an HTTP/1.1 request exactly as given."""
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: movie"]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join([*lines, b"Connection: close", b"", b""])


@FUZZ
@given(method=METHODS, prefix=PREFIXES, suffix=SUFFIXES)
def test_odd_methods_and_paths_get_no_server_error(movie, method, prefix, suffix):
    """Any method on any path, encoded or not: 2xx/3xx/4xx, never 5xx or a traceback."""
    check_answer(raw_request(movie, request(method, prefix + suffix, [])))


@FUZZ
@given(headers=st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=4))
def test_odd_and_huge_headers_get_no_server_error(movie, headers):
    """Unknown, malformed, contradictory and oversized headers are refused cleanly."""
    check_answer(raw_request(movie, request(b"GET", b"/movie", headers)))


@FUZZ
@given(accept=ACCEPTS, path=st.sampled_from([b"/movie", b"/movie/nope", b"/movie/health"]))
def test_any_accept_header_gets_an_answer_it_can_read(movie, accept, path):
    """Whatever Accept says, the page or its error comes back as JSON or HTML, not a 500."""
    answer = raw_request(movie, request(b"GET", path, [(b"Accept", accept)]))
    check_answer(answer)
    assert STATUS.match(answer), answer[:300]


def test_the_service_still_serves_after_the_fuzzing(stack, movie):
    """After thousands of bad requests both endpoints still answer 200."""
    assert http_get(f"http://{movie}/movie/health", JSON, timeout=10).status == 200
    assert http_get(f"http://{movie}/movie", JSON, timeout=10).status == 200
