"""The routes every service has under its own prefix: the page, liveness, readiness."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from bookingapp_common import drain, logs
from bookingapp_common.counter import CounterUnavailable, get_counter
from bookingapp_common.errors import wants_json
from bookingapp_common.identity import Instance
from bookingapp_common.neighbours import get_neighbours
from bookingapp_common.pages import get_pages
from bookingapp_common.service import ServiceSpec
from bookingapp_common.shares import get_shares

SPEC = "bookingapp.service"
INSTANCE = "bookingapp.instance"
HEALTH = "bookingapp.health"


def page() -> ResponseReturnValue:
    """Count this visit; show the counts, the split over instances and the neighbours."""
    if request.method == "HEAD":
        # HEAD asks what a GET would get, without the body: monitors and link checkers
        # send it, and it is not a visit, so it counts nothing and asks nobody.
        return Response(mimetype="application/json" if wants_json() else "text/html")
    hit = get_counter().hit()
    request_id = logs.current_request_id()
    neighbours = get_neighbours().snapshot(request_id)
    shares = get_shares().snapshot(request_id)
    if wants_json():
        return get_pages().json(hit.hits, hit.instance_hits, neighbours, shares)
    return get_pages().html(hit.hits, hit.instance_hits, neighbours, shares)


def health_answers(spec: ServiceSpec, instance: Instance) -> tuple[bytes, bytes]:
    """Return the two liveness bodies, ok and draining, encoded once for the app's life."""
    return tuple(  # type: ignore[return-value]
        json.dumps({"status": status, "service": spec.name, "instance": instance.id}).encode()
        for status in ("ok", "draining")
    )


def health() -> ResponseReturnValue:
    """Liveness: answers whenever the process can serve; never asks Redis (docs/pitfalls.md #1)."""
    ok, draining = current_app.extensions[HEALTH]
    if drain.draining():  # stopping: leave the load balancer's pool, keep serving meanwhile
        return Response(draining, status=503, mimetype="application/json")
    return Response(ok, mimetype="application/json")


# What /ready tells anyone who asks when the counter cannot count; the log says why.
NOT_READY = "the hit counter cannot count right now"


def ready() -> ResponseReturnValue:
    """Readiness: 200 with the hit count when this instance can count, 503 when not."""
    spec: ServiceSpec = current_app.extensions[SPEC]
    instance = current_app.extensions[INSTANCE]
    body = {"service": spec.name, "instance": instance.id}
    try:
        hits = get_counter().ready()
    except CounterUnavailable as error:
        logs.note_problem(str(error))
        return jsonify(status="unavailable", reason=NOT_READY, **body), 503
    return jsonify(status="ready", hits=hits, **body)


def blueprint(spec: ServiceSpec) -> Blueprint:
    """Return the service's routes, mounted under its prefix (no stripping, as on the ALB)."""
    bp = Blueprint(spec.name, __name__, url_prefix=spec.prefix)
    # `/home` and `/home/` are both the page: the ALB rule `/home*` sends both here.
    bp.add_url_rule("", "page", page, methods=["GET"])
    bp.add_url_rule("/", "page_slash", page, methods=["GET"])
    bp.add_url_rule("/health", "health", health, methods=["GET"])
    bp.add_url_rule("/ready", "ready", ready, methods=["GET"])
    return bp
