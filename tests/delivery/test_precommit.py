"""pre-commit runs the checks people expect, all from the project's own locked tools."""

from __future__ import annotations

import yaml

from tests.support import ROOT

CONFIG = ROOT / ".pre-commit-config.yaml"
EXPECTED = {"ruff-check", "ruff-format", "mypy", "hadolint", "actionlint", "zizmor"}


def hooks() -> list[dict]:
    """Return every hook of every repo in the pre-commit config."""
    return [hook for repo in yaml.safe_load(CONFIG.read_text())["repos"] for hook in repo["hooks"]]


def test_pre_commit_runs_ruff_the_type_checker_hadolint_actionlint_and_zizmor() -> None:
    assert {hook["id"] for hook in hooks()} >= EXPECTED


def test_every_hook_is_local_and_runs_the_locked_tool_through_uv() -> None:
    """No hook repository to download from GitHub; the versions are uv.lock's, as in CI."""
    repos = yaml.safe_load(CONFIG.read_text())["repos"]
    assert {repo["repo"] for repo in repos} == {"local"}
    assert all(hook["entry"].startswith("uv run ") for hook in hooks())
