"""The page, HTML or JSON: built once per snapshot of its panels; per hit only the counts change."""

from __future__ import annotations

import json
from typing import Any, cast

from flask import Flask, Response, current_app

from bookingapp_common.identity import Instance
from bookingapp_common.service import ServiceSpec
from bookingapp_common.snapshots import EMPTY, Snapshot

EXTENSION = "bookingapp.pages"
# Placeholders rendered where the counts go, then cut out: plain words, so autoescape and
# the template leave them untouched.
_HITS = "bookingapp-hits-slot"
_INSTANCE_HITS = "bookingapp-instance-hits-slot"


class PageRenderer:
    """Render the service page, re-running the template (or encoder) only for new panels."""

    def __init__(self, app: Flask, spec: ServiceSpec, instance: Instance) -> None:
        self.template = app.jinja_env.get_template("page.html")
        self.context = {
            "spec": spec,
            "links": app.config["SERVICE_LINKS"],
            "instance": instance.id,
            "zone": instance.zone,
        }
        # (the panels' versions it was rendered with, the page cut around the two counts)
        self._cached: tuple[tuple[int, int], tuple[str, str, str]] | None = None
        # (the panels' versions it was encoded with, the JSON document after the two counts)
        self._cached_json: tuple[tuple[int, int], str] | None = None

    def html(
        self, hits: int, instance_hits: int, neighbours: Snapshot, shares: Snapshot = EMPTY
    ) -> str:
        """Return the page for these counts, neighbour states and split over instances."""
        versions = (neighbours.version, shares.version)
        cached = self._cached
        if cached is None or cached[0] != versions:
            # Everything but the counts changes at most once per panel refresh (2 s):
            # running the template per hit cost more than counting the hit (docs/benchmark.md).
            cached = self._cached = (versions, self._cut(neighbours.states, shares.states))
        head, middle, tail = cached[1]
        return f"{head}{hits}{middle}{instance_hits}{tail}"

    def json(
        self, hits: int, instance_hits: int, neighbours: Snapshot, shares: Snapshot = EMPTY
    ) -> Response:
        """Return the page as JSON for these counts, neighbour states and split."""
        versions = (neighbours.version, shares.version)
        cached = self._cached_json
        if cached is None or cached[0] != versions:
            rest = json.dumps(
                {
                    "service": self.context["spec"].name,
                    "instance": self.context["instance"],
                    "zone": self.context["zone"],
                    "instances": list(shares.states),
                    "neighbours": list(neighbours.states),
                },
                separators=(",", ":"),
            )
            cached = self._cached_json = (versions, rest[1:])  # without its "{"
        body = f'{{"hits":{hits},"instance_hits":{instance_hits},{cached[1]}'
        return Response(body, mimetype="application/json")

    def _cut(
        self, neighbours: tuple[dict[str, Any], ...], shares: tuple[dict[str, Any], ...]
    ) -> tuple[str, str, str]:
        """Render with placeholders and cut the page around them (each appears once)."""
        page = self.template.render(
            **self.context,
            hits=_HITS,
            instance_hits=_INSTANCE_HITS,
            neighbours=neighbours,
            shares=shares,
        )
        head, rest = page.split(_HITS)
        middle, tail = rest.split(_INSTANCE_HITS)
        return head, middle, tail


def init_app(app: Flask, spec: ServiceSpec, instance: Instance) -> None:
    """Attach the page renderer for this service."""
    app.extensions[EXTENSION] = PageRenderer(app, spec, instance)


def get_pages() -> PageRenderer:
    """Return the current app's page renderer."""
    return cast(PageRenderer, current_app.extensions[EXTENSION])
