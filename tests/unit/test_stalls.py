"""Short Redis stalls under concurrent visits: a 503 is never counted, a 200 always is.

A visit gives up after BUDGET_SECONDS (1 s); the script refuses a batch from
LATE_MARGIN_SECONDS before that, on Redis's clock. Stalls of 0.9-1.1 s straddle that moment:
batches held by a stall reach Redis after their visits gave up (refused), or just before
(counted, answered in time). Either way the count equals the 200 answers exactly. Moving
the apply-by time later (LATE_MARGIN_SECONDS = -0.5, say: batches let in half a second
after their visits gave up) makes this test fail with more counts than 200s.

The stall holds the requests on their way to Redis (tests/stubs.py's Name.hold), and the
answers flow. A stalled Redis process (SIGSTOP) holds the answers too: one that stops
after running a batch and before writing its answer makes that batch the one case no
client can rule out, counted though answered 503 (docs/redis.md). Seen here once in about
twenty runs of SIGSTOP stalls; the exact test below excludes that case by construction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from bookingapp_home import create_app
from tests.stubs import Name
from tests.support import JSON
from tests.unit.conftest import app_config

CLIENTS = 24
STALLS = (0.95, 1.0, 1.05, 1.1, 0.9, 1.0)


def visit_until(app, stop: threading.Event, statuses: list[int]) -> None:
    """Ask for the home page until told to stop; keep every status."""
    client = app.test_client()
    while not stop.is_set():
        statuses.append(client.get("/home", headers=JSON).status_code)


@pytest.fixture
def name(redis_server) -> Iterator[Name]:
    """The test Redis behind a name whose requests a test can hold."""
    way = Name(redis_server.port)
    yield way
    way.close()


def test_stalls_straddling_the_deadline_count_exactly_the_200_answers(name, redis_client):
    """Six stalls of 0.9-1.1 s under 24 clients: the Redis count is the number of 200s."""
    app = create_app(app_config(name.port))
    stop = threading.Event()
    statuses: list[int] = []
    clients = [
        threading.Thread(target=visit_until, args=(app, stop, statuses), daemon=True)
        for _ in range(CLIENTS)
    ]
    for client in clients:
        client.start()
    try:
        time.sleep(0.5)
        for seconds in STALLS:
            name.hold(seconds)
            time.sleep(0.6)  # counting resumes (a probe interval) before the next stall
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=10)
    time.sleep(0.2)  # anything still queued in Redis has run (and been refused)
    assert set(statuses) <= {200, 503}
    assert statuses.count(503) > 0, "no stall was long enough to make a visit give up"
    assert int(redis_client.get("bookingapp:home:hits")) == statuses.count(200)
