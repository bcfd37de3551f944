"""The package's lazy attributes: the app machinery is imported on first use, not with it.

tests/unit/test_startup.py proves the health check imports neither Flask nor redis; these
call the package's `__getattr__` directly, so what each name resolves to is pinned too.
"""

from __future__ import annotations

import pytest

import bookingapp_common
from bookingapp_common.factory import create_service_app
from bookingapp_common.service import ServiceSpec


def test_create_service_app_is_the_factorys():
    """`from bookingapp_common import create_service_app` gives the app factory."""
    assert bookingapp_common.__getattr__("create_service_app") is create_service_app


def test_service_spec_is_the_service_modules():
    """`from bookingapp_common import ServiceSpec` gives the spec class."""
    assert bookingapp_common.__getattr__("ServiceSpec") is ServiceSpec


def test_any_other_name_is_an_attribute_error_naming_it():
    """A name the package does not have fails as a missing module attribute does."""
    with pytest.raises(AttributeError) as missing:
        bookingapp_common.__getattr__("create_app")
    assert str(missing.value) == "module 'bookingapp_common' has no attribute 'create_app'"
