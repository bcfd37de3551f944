from __future__ import annotations

from pathlib import Path

import pytest

from tests.delivery.fakerepo import make_repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A committed git repository laid out like ours, with services films and trains."""
    return make_repo(tmp_path / "repo")
