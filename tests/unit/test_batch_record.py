"""A stray write to a worker's batch record costs one batch at most, never counting for good.

Each process keeps one record in Redis (its last batch: id, totals), expiring after
BATCH_MEMORY_MS. Something else writing it (an operator's SET, a restore, another tool) can
leave a value without expiry, of another type, or with a batch number higher than ours. The
script ignores what it cannot read; a higher number refuses one batch (STALE), and the
process takes a new record. /ready asks the same script, so it says 503 exactly while pages
cannot count, and 200 again once they can.
"""

from __future__ import annotations

import pytest

from bookingapp_home import create_app
from tests.support import JSON
from tests.unit.conftest import app_config

RECORDS = "bookingapp:home:hits:batches:test-instance:*"
STRAY = {
    "a-later-batch": lambda client, key: client.set(key, "999999999999 5 5"),
    "another-type": lambda client, key: (client.delete(key), client.hset(key, "x", "1")),
    "not-a-record": lambda client, key: client.set(key, "hello"),
}


@pytest.mark.parametrize("kind", sorted(STRAY))
def test_a_stray_write_to_the_batch_record_stops_counting_for_one_visit_at_most(
    redis_server, redis_client, kind
):
    """After the stray write (no expiry), at most one visit is a 503; then all count, exactly."""
    client = create_app(app_config(redis_server.port)).test_client()
    assert client.get("/home", headers=JSON).status_code == 200
    [record] = redis_client.keys(RECORDS)
    STRAY[kind](redis_client, record)
    assert redis_client.ttl(record) == -1  # no expiry: it would stay for good
    statuses = [client.get("/home", headers=JSON).status_code for _ in range(5)]
    assert statuses.count(503) <= 1
    assert statuses[1:] == [200] * 4
    assert client.get("/home/ready").status_code == 200
    counted = int(redis_client.get("bookingapp:home:hits"))
    assert counted == 1 + statuses.count(200)


def test_ready_is_503_while_the_record_refuses_and_200_once_counting_works(
    redis_server, redis_client
):
    """/ready tells the truth: it runs the counting script, so it meets the stray record too."""
    client = create_app(app_config(redis_server.port)).test_client()
    assert client.get("/home", headers=JSON).status_code == 200
    [record] = redis_client.keys(RECORDS)
    redis_client.set(record, "999999999999 5 5")
    assert client.get("/home/ready").status_code == 503  # the one refused batch
    assert client.get("/home/ready").status_code == 200  # a new record: counting works
    assert client.get("/home", headers=JSON).status_code == 200
    assert redis_client.get("bookingapp:home:hits") == "2"
