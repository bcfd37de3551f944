"""What the delivery tests share: the workflow files, parsed, and the changed-services script."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from tests.support import CHANGED_SERVICES_SCRIPT, ROOT, changed_services

WORKFLOWS_DIR = ROOT / ".github" / "workflows"
SCRIPT = CHANGED_SERVICES_SCRIPT


def workflow_files() -> list[Path]:
    """Return every workflow file in the repository, sorted by name."""
    return sorted([*WORKFLOWS_DIR.glob("*.yml"), *WORKFLOWS_DIR.glob("*.yaml")])


def load_workflow(path: Path) -> dict[Any, Any]:
    """Parse a workflow; PyYAML reads the bare key `on` as True, so it is put back as "on"."""
    document = yaml.safe_load(path.read_text())
    if True in document:
        document["on"] = document.pop(True)
    return document


def steps(workflow: dict[Any, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Return (job id, step) for every step of every job in a parsed workflow."""
    return [
        (job_id, step) for job_id, job in workflow["jobs"].items() for step in job.get("steps", [])
    ]


def load_script() -> ModuleType:
    """Return .github/scripts/changed_services.py, imported (tests/support.py does it once)."""
    return changed_services()
