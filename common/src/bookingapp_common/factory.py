"""The app factory: the only place a service app is wired together."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from bookingapp_common import config as settings
from bookingapp_common import (
    counter,
    errors,
    identity,
    logs,
    neighbours,
    pages,
    security,
    service_list,
    shares,
)
from bookingapp_common.service import ServiceSpec
from bookingapp_common.views import HEALTH, INSTANCE, SPEC, blueprint, health_answers

TEMPLATES = Path(__file__).parent / "templates"


def create_service_app(spec: ServiceSpec, config: dict[str, Any] | None = None) -> Flask:
    """Create the Flask app for a service; `config` replaces the environment (tests)."""
    logs.configure()  # first: what start-up logs (identity's fallback) is JSON too
    app = Flask(f"bookingapp_{spec.name}", template_folder=str(TEMPLATES))
    app.config.from_mapping(settings.DEFAULTS)
    if config is None:
        app.config.update(settings.from_environment(os.environ))
        app.config.update(service_list.from_environment(os.environ))
    else:
        app.config.update(config)

    # Read once at start-up: the metadata endpoint is not asked on the request path.
    instance = (
        identity.Instance(id=app.config["INSTANCE_ID"])
        if app.config["INSTANCE_ID"]
        else identity.discover(app.config["ECS_CONTAINER_METADATA_URI_V4"])
    )
    app.extensions[SPEC] = spec
    app.extensions[INSTANCE] = instance
    app.extensions[HEALTH] = health_answers(spec, instance)

    counter.init_app(app, spec.name, instance.id)
    # Its own client: the split is read beside the counting wire, never on it.
    shares.init_app(app, counter.make_client(app.config), counter.instance_key(app))
    neighbours.init_app(app, spec.neighbours_among(app.config["SERVICE_LINKS"]))
    pages.init_app(app, spec, instance)
    errors.init_app(app)
    app.register_blueprint(blueprint(spec))
    # The WSGI edge, innermost first. The ALB (or Traefik) is the one proxy in front: trust
    # the X-Forwarded-For/Proto/Port it sets, one hop. Then the headers every answer
    # carries, then the request id and the access line around all of it.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_port=1)  # type: ignore[method-assign]
    security.init_app(app)
    logs.init_app(app, spec.name, instance.id)
    return app
