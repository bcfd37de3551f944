"""home: the landing page, which also shows how every other app is doing."""

from flask import Flask

from bookingapp_common import ServiceSpec, create_service_app

SERVICE = ServiceSpec(
    name="home",
    title="bookingapp",
    tagline="Book a film or a bus seat. Every page says which instance served it.",
    shows_other_apps=True,
)


def create_app(config: dict | None = None) -> Flask:
    """Create the home app."""
    return create_service_app(SERVICE, config)
