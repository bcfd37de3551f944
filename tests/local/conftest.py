"""Fixtures for the local-stack tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra import cfn


@pytest.fixture(scope="session")
def services_template() -> dict[str, Any]:
    """The service CloudFormation template, parsed."""
    return cfn.load("service")
