"""Dependabot keeps every pin current: the uv lock, the base image and the pinned actions."""

from __future__ import annotations

import subprocess

import yaml

from tests.support import ROOT, project_tool

DEPENDABOT = ROOT / ".github" / "dependabot.yml"


def test_dependabot_settings_match_githubs_schema() -> None:
    """A misspelt key would make Dependabot ignore the file; the schema is checked offline."""
    result = subprocess.run(
        [
            project_tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.dependabot",
            str(DEPENDABOT),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_updates_uv_docker_and_github_actions_from_the_root() -> None:
    updates = yaml.safe_load(DEPENDABOT.read_text())["updates"]
    covered = {(u["package-ecosystem"], u["directory"]) for u in updates}
    assert covered == {("uv", "/"), ("docker", "/"), ("github-actions", "/")}


def test_every_update_waits_a_week_after_a_release() -> None:
    """A hijacked release is usually found and pulled within days; don't adopt it first."""
    for update in yaml.safe_load(DEPENDABOT.read_text())["updates"]:
        assert update["cooldown"]["default-days"] >= 7, update["package-ecosystem"]
