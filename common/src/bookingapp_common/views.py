"""The routes every service has under its own prefix: the page, liveness, readiness."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from bookingapp_common import drain
from bookingapp_common.counter import CounterUnavailable, get_counter
from bookingapp_common.errors import wants_json
from bookingapp_common.neighbours import get_neighbours
from bookingapp_common.pages import get_pages
from bookingapp_common.service import ServiceSpec

SPEC = "bookingapp.service"
INSTANCE = "bookingapp.instance"


def page() -> ResponseReturnValue:
    """Count this visit and show the counts, with the neighbours' state on the side."""
    if request.method == "HEAD":
        # HEAD asks what a GET would get, without the body: monitors and link checkers
        # send it, and it is not a visit, so it counts nothing and asks nobody.
        return Response(mimetype="application/json" if wants_json() else "text/html")
    hit = get_counter().hit()
    neighbours = get_neighbours().snapshot(g.get("request_id"))
    if wants_json():
        return get_pages().json(hit.hits, hit.instance_hits, neighbours)
    return get_pages().html(hit.hits, hit.instance_hits, neighbours)


def health() -> ResponseReturnValue:
    """Liveness: answers whenever the process can serve; never asks Redis (docs/pitfalls.md #1)."""
    instance = current_app.extensions[INSTANCE]
    spec: ServiceSpec = current_app.extensions[SPEC]
    if drain.draining():  # stopping: leave the load balancer's pool, keep serving meanwhile
        return jsonify(status="draining", service=spec.name, instance=instance.id), 503
    return jsonify(status="ok", service=spec.name, instance=instance.id)


def ready() -> ResponseReturnValue:
    """Readiness: 200 with the hit count when Redis answers, 503 with the reason when not."""
    spec: ServiceSpec = current_app.extensions[SPEC]
    instance = current_app.extensions[INSTANCE]
    body = {"service": spec.name, "instance": instance.id}
    try:
        hits = get_counter().peek()
    except CounterUnavailable as error:
        return jsonify(status="unavailable", reason=str(error), **body), 503
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
