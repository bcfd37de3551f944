"""The workflows' own shell steps do what they say, run with bash as GitHub runs them.

Each step's `run:` text is taken from the workflow file and run in a small git repository
laid out like ours, with the step's env set as GitHub would set it and GITHUB_OUTPUT read back.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.delivery.fakerepo import commit, git
from tests.delivery.workflows import WORKFLOWS_DIR, load_workflow

BOTH = ["films", "trains"]


def find_step(workflow: str, job: str, name: str) -> dict[str, Any]:
    """Return the step with this id or name from a job of a workflow."""
    found = [
        step
        for step in load_workflow(WORKFLOWS_DIR / workflow)["jobs"][job]["steps"]
        if name in (step.get("id"), step.get("name"))
    ]
    assert len(found) == 1, f"{workflow}: job {job} has {len(found)} steps called {name!r}"
    return found[0]


def run_step(
    step: dict[str, Any], cwd: Path, env: dict[str, str], path: Path | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run a step's script as GitHub's bash does; return the process and the outputs it set."""
    assert set(env) <= set(step.get("env", {})) | {"SERVICE", "IMAGE"}, "env the step never gets"
    outputs = cwd.parent / "github_output"
    outputs.write_text("")
    search = f"{path}{os.pathsep}{os.environ['PATH']}" if path else os.environ["PATH"]
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=cwd,
        env={"PATH": search, "HOME": str(cwd.parent), "GITHUB_OUTPUT": str(outputs), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    pairs = (line.split("=", 1) for line in outputs.read_text().splitlines() if "=" in line)
    return result, dict(pairs)


def change(repo: Path, service: str) -> None:
    """Commit a code change to one member of the fake repository."""
    code = repo / service / "src" / "code.py"
    code.write_text(code.read_text() + "VALUE += 1\n")
    commit(repo, f"change {service}")


# --- publish.yml: which services to build ---

PUBLISH_CHANGES = find_step("publish.yml", "changes", "changes")


def test_a_push_to_main_publishes_the_services_it_changed(repo: Path) -> None:
    before = git(repo, "rev-parse", "HEAD")
    change(repo, "trains")
    result, outputs = run_step(PUBLISH_CHANGES, repo, {"REF_TYPE": "branch", "BEFORE": before})
    assert result.returncode == 0, result.stderr
    assert json.loads(outputs["services"]) == ["trains"]


def test_a_first_push_publishes_every_service(repo: Path) -> None:
    result, outputs = run_step(PUBLISH_CHANGES, repo, {"REF_TYPE": "branch", "BEFORE": "0" * 40})
    assert result.returncode == 0, result.stderr
    assert json.loads(outputs["services"]) == BOTH


def test_a_tag_publishes_every_service_whatever_changed(repo: Path) -> None:
    before = git(repo, "rev-parse", "HEAD")
    change(repo, "films")
    git(repo, "tag", "v1.0.0")
    result, outputs = run_step(PUBLISH_CHANGES, repo, {"REF_TYPE": "tag", "BEFORE": before})
    assert result.returncode == 0, result.stderr
    assert json.loads(outputs["services"]) == BOTH


def test_publish_stops_with_a_clear_message_when_docker_hub_settings_are_missing(
    repo: Path,
) -> None:
    step = find_step("publish.yml", "image", "check the Docker Hub settings are present")
    empty = {"DOCKERHUB_USERNAME": "", "DOCKERHUB_TOKEN": "", "DOCKERHUB_NAMESPACE": ""}
    result, _ = run_step(step, repo, empty)
    assert result.returncode == 1
    assert "secret DOCKERHUB_USERNAME, secret DOCKERHUB_TOKEN, variable DOCKERHUB_NAMESPACE in" in (
        result.stdout
    )
    full = {"DOCKERHUB_USERNAME": "me", "DOCKERHUB_TOKEN": "t", "DOCKERHUB_NAMESPACE": "me"}
    assert run_step(step, repo, full)[0].returncode == 0


# --- deploy.yml: which services, which tag, and the release command ---

DEPLOY_PLAN = find_step("deploy.yml", "plan", "plan")
NO_INPUTS = {"INPUT_SERVICES": "", "INPUT_TAG": ""}


def test_a_release_deploys_what_changed_since_the_previous_release(repo: Path) -> None:
    git(repo, "tag", "v1.0.0")
    change(repo, "films")
    git(repo, "tag", "v1.1.0-rc.1")
    env = {"EVENT": "release", "RELEASE_TAG": "v1.1.0-rc.1", **NO_INPUTS}
    result, outputs = run_step(DEPLOY_PLAN, repo, env)
    assert result.returncode == 0, result.stderr
    assert json.loads(outputs["services"]) == ["films"]
    assert outputs["tag"] == "1.1.0-rc.1"  # the tag metadata-action's {{version}} gave the images


@pytest.mark.parametrize("tag", ["release-1", "v1", "v1.2", "vnext", "v1.2.3+build.5"])
def test_a_release_whose_tag_publish_tags_no_image_from_is_refused(repo: Path, tag: str) -> None:
    env = {"EVENT": "release", "RELEASE_TAG": tag, **NO_INPUTS}
    result, outputs = run_step(DEPLOY_PLAN, repo, env)
    assert result.returncode == 1
    assert "Release tags must look like v1.2.3" in result.stdout
    assert outputs == {}


def test_a_manual_deploy_releases_the_named_services_at_the_given_tag(repo: Path) -> None:
    env = {
        "EVENT": "workflow_dispatch",
        "RELEASE_TAG": "",
        "INPUT_SERVICES": "trains",
        "INPUT_TAG": "sha-1a2b3c4",
    }
    result, outputs = run_step(DEPLOY_PLAN, repo, env)
    assert result.returncode == 0, result.stderr
    assert outputs == {"services": '["trains"]', "tag": "sha-1a2b3c4"}


@pytest.mark.parametrize(
    ("services", "tag"),
    [("films", "1.0; touch pwned"), ("films; touch pwned", "1.0"), ("films", "$(touch pwned)")],
)
def test_manual_inputs_are_data_never_shell(repo: Path, services: str, tag: str) -> None:
    """Inputs reach the script through env and are checked, so none of them runs."""
    env = {
        "EVENT": "workflow_dispatch",
        "RELEASE_TAG": "",
        "INPUT_SERVICES": services,
        "INPUT_TAG": tag,
    }
    result, outputs = run_step(DEPLOY_PLAN, repo, env)
    assert result.returncode != 0
    assert not (repo / "pwned").exists()
    assert "tag" not in outputs


def fake_uv(tmp_path: Path) -> Path:
    """Put a `uv` on PATH that records its arguments as JSON instead of running anything."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "uv").write_text(
        "#!/bin/sh\nexec python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' \"$@\"\n"
    )
    (bin_dir / "uv").chmod(0o755)
    return bin_dir


@pytest.mark.parametrize(
    ("prefix", "expected_prefix"), [("", []), ("my stacks", ["--prefix", "my stacks"])]
)
def test_release_runs_the_infra_release_command_for_one_service_and_image(
    repo: Path, tmp_path: Path, prefix: str, expected_prefix: list[str]
) -> None:
    step = find_step("deploy.yml", "release", "release ${{ matrix.service }}")
    env = {
        "SERVICE": "films",
        "IMAGE": "me/bookingapp-films:1.1.0",
        "UV_LOCKED": "1",
        "STACK_PREFIX": prefix,
    }
    result, _ = run_step(step, repo, env, path=fake_uv(tmp_path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        "run",
        "--no-dev",
        "--package",
        "bookingapp-infra",
        "bookingapp-infra",
        *expected_prefix,
        "release",
        "films",
        "--image",
        "me/bookingapp-films:1.1.0",
    ]


# --- publish.yml: the build cache ---

PUBLISH_CACHE = find_step("publish.yml", "image", "cache")


def test_a_release_tag_is_built_without_any_cache(repo: Path) -> None:
    """A poisoned cache can't reach a release image: nothing restored, nothing written."""
    result, outputs = run_step(PUBLISH_CACHE, repo, {"REF_TYPE": "tag", "SERVICE": "films"})
    assert result.returncode == 0, result.stderr
    assert outputs == {"from": "", "to": "", "no-cache": "true"}


def test_a_push_to_main_builds_with_its_own_service_cache(repo: Path) -> None:
    """One cache scope per service, so the three builds don't evict each other's layers."""
    result, outputs = run_step(PUBLISH_CACHE, repo, {"REF_TYPE": "branch", "SERVICE": "films"})
    assert result.returncode == 0, result.stderr
    assert outputs == {
        "from": "type=gha,scope=films",
        "to": "type=gha,mode=max,scope=films",
        "no-cache": "false",
    }
