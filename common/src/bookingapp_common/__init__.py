"""The shared core of every bookingapp service: app factory, identity, hit counter, health."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bookingapp_common.factory import create_service_app
    from bookingapp_common.service import ServiceSpec

__all__ = ["ServiceSpec", "create_service_app"]


def __getattr__(name: str) -> Any:
    """Import the app machinery on first use, not with the package.

    Whatever imports the package for one small thing (gunicorn's config module, a tool)
    does not pay for Flask and redis-py: they took 8 s to import on a loaded 0.5 vCPU task.
    """
    if name == "create_service_app":
        from bookingapp_common.factory import create_service_app

        return create_service_app
    if name == "ServiceSpec":
        from bookingapp_common.service import ServiceSpec

        return ServiceSpec
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
