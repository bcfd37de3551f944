"""bus: coach seats."""

from flask import Flask

from bookingapp_common import ServiceSpec, create_service_app

SERVICE = ServiceSpec(
    name="bus",
    title="Buses",
    tagline="Seats on today's coaches.",
    items=("City centre → Airport, every 20 min", "Airport → Harbour, 08:15 and 17:45"),
)


def create_app(config: dict | None = None) -> Flask:
    """Create the bus app."""
    return create_service_app(SERVICE, config)
