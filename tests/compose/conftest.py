"""The stack fixture: compose.yaml brought up once for the module that asks for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.compose.stack import APP_SERVICES, Stack


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """Bring up redis and the three apps from the real compose.yaml (no traefik)."""
    project = Stack()
    try:
        project.up("redis", *APP_SERVICES)
        yield project
    finally:
        project.down()
