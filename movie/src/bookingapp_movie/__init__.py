"""movie: film tickets."""

from flask import Flask

from bookingapp_common import ServiceSpec, create_service_app

SERVICE = ServiceSpec(
    name="movie",
    title="Movies",
    tagline="Tonight's screenings.",
    items=("The Long Deploy, 19:00", "Return of the Rolling Update, 21:30"),
)


def create_app(config: dict | None = None) -> Flask:
    """Create the movie app."""
    return create_service_app(SERVICE, config)
