"""zizmor, the GitHub Actions security audit, finds nothing in .github, with our settings.

zizmor comes from the dev dependencies (a binary wheel) and runs offline. Its audits cover
what a reviewer misses: template injection, unpinned or impostor actions, cache poisoning
in publishing workflows, credentials left by checkout, dangerous triggers, and Dependabot
settings. .github/zizmor.yml asks for every action pinned to a commit SHA.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.support import ROOT, project_tool

CONFIG = ROOT / ".github" / "zizmor.yml"


def audit(*inputs: Path, config: Path = CONFIG) -> subprocess.CompletedProcess[str]:
    """Run zizmor offline on the inputs with a config file; plain output, no colours."""
    return subprocess.run(
        [
            project_tool("zizmor"),
            "--offline",
            "--no-progress",
            "--color=never",
            "--config",
            str(config),
            *map(str, inputs),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_workflows_and_dependabot_settings_have_no_zizmor_findings() -> None:
    result = audit(ROOT / ".github")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr


def test_the_settings_require_every_action_pinned_to_a_commit() -> None:
    """No exception for any owner, GitHub's own actions included."""
    policies = yaml.safe_load(CONFIG.read_text())["rules"]["unpinned-uses"]["config"]["policies"]
    assert policies == {"*": "hash-pin"}


def test_an_action_pinned_to_a_tag_is_a_finding(tmp_path: Path) -> None:
    """The audit can fail: the same settings reject `@v7`, so a clean result means something."""
    workflow = tmp_path / "tagged.yml"
    workflow.write_text(
        "on: push\n"
        "permissions: {}\n"
        "jobs:\n"
        "  build:\n"
        "    runs-on: ubuntu-latest\n"
        "    permissions: {}\n"
        "    steps:\n"
        "      - uses: actions/checkout@v7\n"
        "        with:\n"
        "          persist-credentials: false\n"
    )
    result = audit(workflow)
    assert result.returncode != 0
    assert "unpinned-uses" in result.stdout


def test_a_release_build_that_restores_a_cache_is_a_finding(tmp_path: Path) -> None:
    """What publish.yml avoids: a tag build restoring the Actions cache (cache poisoning)."""
    workflow = tmp_path / "release.yml"
    workflow.write_text(
        "on:\n"
        "  push:\n"
        "    tags: ['v*']\n"
        "permissions: {}\n"
        "jobs:\n"
        "  release:\n"
        "    runs-on: ubuntu-latest\n"
        "    permissions: {}\n"
        "    steps:\n"
        # Tag refs (an unpinned-uses finding too): only the cache-poisoning one is asserted.
        "      - uses: actions/setup-python@v6\n"
        "        with:\n"
        "          cache: pip\n"
        "      - uses: pypa/gh-action-pypi-publish@release/v1\n"
    )
    result = audit(workflow)
    assert result.returncode != 0
    assert "cache-poisoning" in result.stdout
