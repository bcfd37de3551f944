"""The shared core of every bookingapp service: app factory, identity, hit counter, health."""

from bookingapp_common.factory import create_service_app
from bookingapp_common.service import ServiceSpec

__all__ = ["ServiceSpec", "create_service_app"]
