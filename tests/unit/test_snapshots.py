"""A side panel is read at most every max_age, by one request at a time, failures included."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bookingapp_common.snapshots import Refreshed, Snapshot

STATES = ({"name": "bus", "up": True},)


class Reader:
    """A panel's reader that counts its reads and runs what the test asks meanwhile."""

    def __init__(self) -> None:
        self.reads = 0
        self.during_read: list[Callable[[], Any]] = []
        self.request_ids: list[str | None] = []

    def __call__(self, request_id: str | None) -> tuple[dict[str, Any], ...]:
        """Count the read; run what the test asked to run meanwhile."""
        self.reads += 1
        self.request_ids.append(request_id)
        for action in self.during_read:
            action()
        return STATES


def test_a_snapshot_is_reused_until_exactly_max_age(panel_clock):
    """Younger than max_age: the same snapshot, no read; max_age old: read again."""
    reader = Reader()
    panel = Refreshed(reader, max_age=2.0)
    first = panel.snapshot()
    panel_clock.now += 1.999
    assert panel.snapshot() is first
    panel_clock.now += 0.001
    assert panel.snapshot() == Snapshot(2, STATES)
    assert reader.reads == 2


def test_the_refreshing_request_passes_its_id_to_the_reader(panel_clock):
    """The request that pays for a refresh is the one named in the reader's calls."""
    reader = Reader()
    panel = Refreshed(reader, max_age=2.0)
    panel.snapshot("first-request")
    panel.snapshot("reuses-it")
    panel_clock.now += 2.0
    panel.snapshot("second-request")
    assert reader.request_ids == ["first-request", "second-request"]


def test_while_one_request_refreshes_the_others_get_the_last_snapshot(panel_clock):
    """A request arriving during a refresh is answered at once with what is known."""
    reader = Reader()
    panel = Refreshed(reader, max_age=2.0)
    first = panel.snapshot()
    panel_clock.now += 5.0
    seen: list[Snapshot] = []
    reader.during_read.append(lambda: seen.append(panel.snapshot()))
    second = panel.snapshot()
    assert seen == [first]
    assert second.version == 2
    assert reader.reads == 2


def test_a_refresh_that_fails_lets_the_next_request_refresh(panel_clock):
    """A bug in a read does not leave the panel believing a refresh is under way."""
    reader = Reader()
    panel = Refreshed(reader, max_age=2.0)
    panel.snapshot()
    panel_clock.now += 5.0

    def boom() -> None:
        raise RuntimeError("read bug")

    reader.during_read.append(boom)
    with pytest.raises(RuntimeError):
        panel.snapshot()
    reader.during_read.clear()
    assert panel.snapshot().version == 2
    assert reader.reads == 3
