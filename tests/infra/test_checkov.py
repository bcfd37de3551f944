"""checkov finds nothing in the templates and the Dockerfile.

checkov applies its security rules: each finding is fixed, or skipped with its reason beside
it (tests/infra/test_cfn_lint.py checks the templates against AWS's schemas).

checkov runs in its own tool environment (`uv tool run --from checkov==VERSION`), not in
the workspace: it pins an old boto3, and the CLI needs a botocore whose ECS model knows
blue/green deployments (strategy, lifecycleHooks, ListServiceDeployments). uv fetches
that environment from PyPI once and caches it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import pytest

from bookingapp_infra.stacks import TEMPLATES_DIR
from tests.support import ROOT

# The one checkov the project runs; .github/workflows/ci.yml runs the same version.
CHECKOV_VERSION = "3.3.30"
CI_WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def checkov_command() -> list[str]:
    """Return the command that runs the pinned checkov in its own uv tool environment."""
    uv = shutil.which("uv")
    assert uv is not None, "uv is not on PATH: checkov runs as `uv tool run --from checkov`"
    return [uv, "tool", "run", "--from", f"checkov=={CHECKOV_VERSION}", "checkov"]


def run_checkov(*args: str) -> dict[str, Any]:
    """Run checkov offline with JSON output and return its one report."""
    result = subprocess.run(
        [*checkov_command(), "--skip-download", "--quiet", "--output", "json", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]  # 1 = failed checks
    report = json.loads(result.stdout)
    if isinstance(report, list):
        (report,) = report
    return report


def findings(report: dict[str, Any], key: str) -> list[str]:
    """Return one kind of result (failed_checks, skipped_checks) as readable lines."""
    return [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in report.get("results", {}).get(key, [])
    ]


@pytest.fixture(scope="module")
def templates_report() -> dict[str, Any]:
    """Run checkov once over every template."""
    return run_checkov("--directory", str(TEMPLATES_DIR), "--framework", "cloudformation")


def test_checkov_finds_nothing_in_the_templates(templates_report: dict[str, Any]) -> None:
    assert templates_report["summary"]["resource_count"] > 0
    assert findings(templates_report, "failed_checks") == []


def test_every_checkov_skip_in_the_templates_gives_its_reason(
    templates_report: dict[str, Any],
) -> None:
    skipped = templates_report.get("results", {}).get("skipped_checks", [])
    unexplained = [c["check_id"] for c in skipped if len(c.get("suppress_comment", "")) < 20]
    assert unexplained == []


def test_checkov_finds_nothing_in_the_dockerfile() -> None:
    dockerfile = ROOT / "Dockerfile"
    assert dockerfile.is_file(), "the root Dockerfile (the contract's image recipe) is missing"
    report = run_checkov("--file", str(dockerfile), "--framework", "dockerfile")
    assert report["summary"]["passed"] > 0
    assert findings(report, "failed_checks") == []


def test_ci_runs_the_same_checkov_outside_the_workspace() -> None:
    """The lint job's checkov is this file's version, and not one from the workspace lock."""
    workflow = CI_WORKFLOW.read_text(encoding="utf-8")
    runs = re.findall(r"run: (.*checkov .*)", workflow)
    assert runs, "the CI workflow no longer runs checkov"
    for command in runs:
        assert f"--from checkov=={CHECKOV_VERSION} checkov" in command
        assert "uv run checkov" not in command
