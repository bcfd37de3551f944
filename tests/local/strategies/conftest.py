"""Fixtures for the release strategy tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.local.strategies.shifting import BlueGreenStack, shifting_stack


@pytest.fixture(scope="module")
def bluegreen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BlueGreenStack]:
    """One traffic-shifting stack per test module (see shifting.py)."""
    with shifting_stack(tmp_path_factory.mktemp("traefik-rules")) as stack:
        yield stack
