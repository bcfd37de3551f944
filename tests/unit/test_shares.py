"""Each page shows how its service's hits split over the instances, read from Redis."""

from __future__ import annotations

import time

import pytest

from bookingapp_common.config import DEFAULTS
from bookingapp_common.counter import make_client
from bookingapp_common.shares import MAX_LISTED, UNAVAILABLE, Shares, split
from bookingapp_movie import create_app as create_movie
from tests.stubs import silent_server
from tests.support import free_port
from tests.unit.conftest import app_config

JSON = {"Accept": "application/json"}


def test_the_split_is_largest_first_with_each_share_of_the_sum():
    """Counts become shares of their sum, largest first, ties by name."""
    assert split({b"b": b"1", b"a": b"1", b"c": b"2"}) == (
        {"instance": "c", "hits": 2, "share": 0.5},
        {"instance": "a", "hits": 1, "share": 0.25},
        {"instance": "b", "hits": 1, "share": 0.25},
    )


def test_what_is_not_a_positive_count_is_left_out():
    """A field another writer left (not a number, zero, negative) is not an instance's share."""
    assert split({b"a": b"3", b"junk": b"x", b"zero": b"0", b"neg": b"-4"}) == (
        {"instance": "a", "hits": 3, "share": 1.0},
    )


def test_an_empty_hash_is_an_empty_split():
    """No hits yet: nothing to list (the page leaves the table out)."""
    assert split({}) == ()


def test_instances_past_the_listed_ones_are_summed_into_one_entry():
    """Past MAX_LISTED instances the rest is one entry: how many, their hits, their share."""
    fields = {f"task-{i:02}".encode(): str(100 - i).encode() for i in range(MAX_LISTED + 3)}
    entries = split(fields)
    assert len(entries) == MAX_LISTED + 1
    assert [e["instance"] for e in entries[:MAX_LISTED]] == [
        f"task-{i:02}" for i in range(MAX_LISTED)
    ]
    rest = [100 - i for i in range(MAX_LISTED, MAX_LISTED + 3)]
    total = sum(100 - i for i in range(MAX_LISTED + 3))
    assert entries[-1] == {"others": 3, "hits": sum(rest), "share": round(sum(rest) / total, 3)}


def test_an_instance_id_is_cut_and_decoded_whatever_its_bytes():
    """A long or non-UTF-8 field name is shown cut to 64 characters, never an exception."""
    (entry,) = split({b"\xff" + b"x" * 100: b"1"})
    assert entry["instance"] == "\ufffd" + "x" * 63


@pytest.mark.parametrize("where", ["refused", "silent"])
def test_a_redis_that_cannot_be_read_is_one_generic_entry(where):
    """A refused or hung Redis ends the read within the socket timeout, saying only so."""

    def read(port: int) -> tuple[tuple[dict, ...], float]:
        config = {**DEFAULTS, "REDIS_HOST": "127.0.0.1", "REDIS_PORT": port}
        config["REDIS_SOCKET_TIMEOUT"] = 0.2
        shares = Shares(make_client(config), "bookingapp:movie:hits-by-instance", 2.0)
        started = time.monotonic()
        states = shares.snapshot().states
        return states, time.monotonic() - started

    if where == "refused":
        states, took = read(free_port())
    else:
        with silent_server() as port:
            states, took = read(port)
    assert states == ({"problem": UNAVAILABLE},)
    # One connect and one read at most: none of redis-py's retries stretch a page view.
    assert took < 0.2 * 2 + 0.3


def test_two_instances_pages_show_both_with_their_shares(redis_server, redis_client):
    """What the walk-through shows: requests balanced over two tasks, on the page itself."""
    first = create_movie(app_config(redis_server.port, INSTANCE_ID="task-a")).test_client()
    second = create_movie(app_config(redis_server.port, INSTANCE_ID="task-b")).test_client()
    for _ in range(3):
        first.get("/movie", headers=JSON)
    body = second.get("/movie", headers=JSON).get_json()
    assert body["instances"] == [
        {"instance": "task-a", "hits": 3, "share": 0.75},
        {"instance": "task-b", "hits": 1, "share": 0.25},
    ]
    page = second.get("/movie").get_data(as_text=True)
    # The split is at most NEIGHBOUR_MAX_AGE old: this worker read it with its first visit.
    assert "<code>task-a</code>" in page
    assert "<code>task-b</code> (this one)" in page
