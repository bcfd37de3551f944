"""A small git repository laid out like ours, for running the delivery scripts against."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.delivery.workflows import SCRIPT

# Git must work the same on any machine: no user config, a fixed identity.
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(root: Path, *args: str) -> str:
    """Run git in the fake repository and return its output."""
    done = subprocess.run(
        ["git", "-C", str(root), *args],
        capture_output=True,
        text=True,
        env=GIT_ENV,
        check=True,
    )
    return done.stdout.strip()


def commit(root: Path, message: str) -> None:
    """Commit everything in the fake repository."""
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def member(root: Path, name: str, dependencies: list[str]) -> None:
    """Write one workspace member's pyproject and a source file."""
    (root / name / "src").mkdir(parents=True)
    (root / name / "pyproject.toml").write_text(
        f'[project]\nname = "bookingapp-{name}"\ndependencies = {json.dumps(dependencies)}\n'
    )
    (root / name / "src" / "code.py").write_text("VALUE = 1\n")


def make_repo(root: Path) -> Path:
    """Lay out and commit a workspace: a library, two apps on it (one pinned), a tool."""
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[tool.uv.workspace]\nmembers = ["common", "films", "trains", "infra"]\n'
    )
    member(root, "common", ["flask>=3"])
    member(root, "films", ["bookingapp-common"])
    member(root, "trains", ["Bookingapp_Common>=0.1"])
    member(root, "infra", ["boto3"])
    (root / "README.md").write_text("readme\n")
    # The workflows call the script by its path in the checkout.
    (root / ".github" / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, root / ".github" / "scripts" / SCRIPT.name)
    git(root, "init", "-q", "-b", "main")
    commit(root, "start")
    return root
