"""One compose stack for the whole fault suite: building and starting it is the slow part."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.stack import SERVICES, FaultStack


@pytest.fixture(scope="session")
def stack() -> Iterator[FaultStack]:
    """Bring up Redis, home and movie (two replicas each) and home's slow neighbour stub."""
    project = FaultStack()
    try:
        project.up(*SERVICES)
        yield project
    finally:
        project.down()
