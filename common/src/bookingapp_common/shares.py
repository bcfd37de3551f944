"""How a service's hits split over its instances: the load balancing, made visible.

The counting script adds every hit to the instance's field of one hash as well as to the
service's count (_counting.py), so the split is one HGETALL away. It is read at most every
NEIGHBOUR_MAX_AGE per worker (snapshots.py), never per hit, and a failed read only empties
this panel: the visit was counted already, and the page still answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import redis
from flask import Flask, current_app

from bookingapp_common.neighbours import MAX_INSTANCE_CHARS
from bookingapp_common.snapshots import Refreshed, Snapshot

EXTENSION = "bookingapp.shares"
# What the page lists by name; the rest (tasks replaced by releases and scale-ins) is one
# line, so a service that has had thousands of tasks still renders a short page.
MAX_LISTED = 8
# What anyone on the internet is told when the split cannot be read; Redis's own words
# would name the internal endpoint.
UNAVAILABLE = "the split over instances cannot be read right now"


class Shares:
    """Read the per-instance counts of one service and turn them into shares."""

    def __init__(self, client: redis.Redis, key: str, max_age: float) -> None:
        self.client = client
        self.key = key
        self._refreshed = Refreshed(self._states, max_age)

    def snapshot(self, request_id: str | None = None) -> Snapshot:
        """Return the split, at most max_age old."""
        return self._refreshed.snapshot(request_id)

    def _states(self, _request_id: str | None) -> tuple[dict[str, Any], ...]:
        """Read the hash now; a failure is one entry saying so."""
        try:
            fields = self.client.hgetall(self.key)
        except redis.RedisError:
            return ({"problem": UNAVAILABLE},)
        return split(fields)


def split(fields: Mapping[bytes | str, bytes | str]) -> tuple[dict[str, Any], ...]:
    """Turn {instance: count} into entries, largest first, with each one's share of the sum."""
    counts: list[tuple[int, str]] = []
    for raw_instance, raw_hits in fields.items():
        try:
            hits = int(raw_hits)
        except ValueError:
            continue  # not a count: written by something else, not by the script
        if hits > 0:
            instance = _text(raw_instance)[:MAX_INSTANCE_CHARS]
            counts.append((hits, instance))
    total = sum(hits for hits, _ in counts)
    # Largest first; equal counts by name, so two renders of one split read the same.
    counts.sort(key=lambda entry: (-entry[0], entry[1]))
    entries = [
        {"instance": instance, "hits": hits, "share": _share(hits, total)}
        for hits, instance in counts[:MAX_LISTED]
    ]
    rest = counts[MAX_LISTED:]
    if rest:
        hits = sum(h for h, _ in rest)
        entries.append({"others": len(rest), "hits": hits, "share": _share(hits, total)})
    return tuple(entries)


def _text(raw: bytes | str) -> str:
    """Return a field name as text; bytes that are not UTF-8 are shown, not raised on."""
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


def _share(hits: int, total: int) -> float:
    """Return hits / total to three places (what a page can show as a percentage)."""
    return round(hits / total, 3)


def init_app(app: Flask, client: redis.Redis, key: str) -> None:
    """Attach the share reader for the service whose per-instance hash is `key`."""
    app.extensions[EXTENSION] = Shares(client, key, app.config["NEIGHBOUR_MAX_AGE"])


def get_shares() -> Shares:
    """Return the current app's share reader."""
    return cast(Shares, current_app.extensions[EXTENSION])
