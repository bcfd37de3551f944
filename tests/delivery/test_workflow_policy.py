"""The workflows keep the rules that make them safe and predictable to run.

Least privilege, bounded run times, no untrusted text spliced into shell scripts, no token
left in .git for later steps, actions pinned to commits, matrices computed from the
repository, images published only from commits CI passed, with an SBOM and provenance.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.delivery.workflows import load_workflow, steps, workflow_files

WORKFLOWS = {path.name: load_workflow(path) for path in workflow_files()}
# owner/repo[/path]@<40-hex commit> # v1.2.3 -- the comment says which release the SHA is.
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
# A workflow or action of this repository, at the caller's own commit: nothing to pin.
SELF = re.compile(r"^(\$/|\./)")
USES_LINE = re.compile(r"^\s*(?:- )?uses:\s*(.+?)\s*$")
ids = {"ids": lambda path: path.name}


def jobs(name: str) -> dict[str, Any]:
    """Return the jobs of the named workflow, failing clearly if the workflow is absent."""
    if name not in WORKFLOWS:
        pytest.fail(f".github/workflows/{name} is missing")
    return WORKFLOWS[name]["jobs"]


def step_using(name: str, action: str) -> dict[str, Any]:
    """Return the one step of the named workflow that uses the given action."""
    found = [s for _, s in steps(WORKFLOWS[name]) if s.get("uses", "").startswith(f"{action}@")]
    assert len(found) == 1, f"{name}: expected one {action} step, found {len(found)}"
    return found[0]


@pytest.mark.parametrize("path", workflow_files(), **ids)
def test_workflow_grants_nothing_by_default_and_each_job_asks(path: Path) -> None:
    workflow = load_workflow(path)
    assert workflow.get("permissions") == {}
    for job_id, job in workflow["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {job_id} declares no permissions"


@pytest.mark.parametrize("path", workflow_files(), **ids)
def test_every_job_has_a_timeout_and_the_workflow_a_concurrency_group(path: Path) -> None:
    """A job that calls a reusable workflow can't set one: the called workflow's jobs do."""
    workflow = load_workflow(path)
    assert "group" in workflow.get("concurrency", {})
    for job_id, job in workflow["jobs"].items():
        if "uses" in job:
            continue
        assert isinstance(job.get("timeout-minutes"), int), f"{path.name}: {job_id} has none"


@pytest.mark.parametrize("path", workflow_files(), **ids)
def test_no_expression_is_spliced_into_a_shell_script(path: Path) -> None:
    """Values reach `run:` through env, so a branch name or input can't become shell code."""
    spliced = [
        f"{job}: {step['run'][:60]!r}"
        for job, step in steps(load_workflow(path))
        if "${{" in step.get("run", "")
    ]
    assert spliced == []


@pytest.mark.parametrize("path", workflow_files(), **ids)
def test_checkout_leaves_no_credentials_behind(path: Path) -> None:
    checkouts = [
        s
        for _, s in steps(load_workflow(path))
        if s.get("uses", "").startswith("actions/checkout@")
    ]
    assert checkouts
    for checkout in checkouts:
        assert checkout.get("with", {}).get("persist-credentials") is False


@pytest.mark.parametrize("path", workflow_files(), **ids)
def test_actions_are_pinned_to_a_full_commit_sha_with_the_release_in_a_comment(path: Path) -> None:
    """A tag can be moved to other code; a commit SHA can't. The comment keeps it readable."""
    uses = [m.group(1) for line in path.read_text().splitlines() if (m := USES_LINE.match(line))]
    assert uses, f"{path.name} uses no action at all?"
    loose = [ref for ref in uses if not (PINNED.match(ref) or SELF.match(ref))]
    assert loose == []


@pytest.mark.parametrize("path", workflow_files(), **ids)
def test_only_the_job_that_assumes_the_aws_role_may_mint_oidc_tokens(path: Path) -> None:
    for job_id, job in load_workflow(path)["jobs"].items():
        if job.get("permissions", {}).get("id-token") == "write":
            uses = [s.get("uses", "") for s in job.get("steps", [])]
            assert any(u.startswith("aws-actions/configure-aws-credentials@") for u in uses), job_id


@pytest.mark.parametrize("name", ["publish.yml", "deploy.yml"])
def test_service_matrices_come_from_the_changed_services_script(name: str) -> None:
    """No hard-coded service list: each matrix is the output of a job that runs the script."""
    all_jobs = jobs(name)
    matrix_jobs = [
        j for j in all_jobs.values() if "service" in j.get("strategy", {}).get("matrix", {})
    ]
    assert matrix_jobs
    for job in matrix_jobs:
        source = re.fullmatch(
            r"\$\{\{ fromJSON\(needs\.(\w+)\.outputs\.services\) \}\}",
            job["strategy"]["matrix"]["service"],
        )
        assert source, job["strategy"]["matrix"]["service"]
        producer = all_jobs[source.group(1)]
        scripts = " ".join(s.get("run", "") for s in producer["steps"])
        assert ".github/scripts/changed_services.py" in scripts
        assert job.get("if") == f"needs.{source.group(1)}.outputs.services != '[]'"


def test_publish_builds_each_service_for_both_fargate_architectures() -> None:
    build = step_using("publish.yml", "docker/build-push-action")["with"]
    assert set(build["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert build["build-args"].splitlines() == ["SERVICE=${{ matrix.service }}"]
    assert build["push"] is True


def test_every_pushed_image_carries_an_sbom_and_full_provenance() -> None:
    """Users can check what they pull: its packages and the commit and workflow it came from."""
    build = step_using("publish.yml", "docker/build-push-action")["with"]
    assert build["sbom"] is True
    assert build["provenance"] == "mode=max"


def test_the_build_cache_is_whatever_the_cache_step_chose() -> None:
    """The build takes its cache settings from the step that leaves them empty for tags."""
    build = step_using("publish.yml", "docker/build-push-action")["with"]
    assert build["cache-from"] == "${{ steps.cache.outputs.from }}"
    assert build["cache-to"] == "${{ steps.cache.outputs.to }}"
    assert build["no-cache"] == "${{ steps.cache.outputs.no-cache == 'true' }}"
    image_steps = [s.get("id") for s in jobs("publish.yml")["image"]["steps"]]
    assert image_steps.index("cache") < image_steps.index("build")


def test_publish_runs_only_when_ci_calls_it() -> None:
    """No push, tag or schedule starts publish.yml on its own: only ci.yml, after its checks."""
    assert set(WORKFLOWS["publish.yml"]["on"]) == {"workflow_call"}


def test_ci_publishes_only_after_every_check_of_the_same_run_passed() -> None:
    """The publish job needs every other CI job, and runs only for pushes to main and v* tags."""
    ci = jobs("ci.yml")
    callers = {
        job_id: job
        for job_id, job in ci.items()
        if str(job.get("uses", "")).endswith("publish.yml")
    }
    assert list(callers) == ["publish"]
    publish = callers["publish"]
    assert set(publish["needs"]) == set(ci) - {"publish"}
    # needs: alone skips publish when a check fails or is cancelled; no always()/failure().
    assert "always()" not in publish["if"]
    assert "failure()" not in publish["if"]
    assert "github.event_name == 'push'" in publish["if"]
    assert "github.ref == 'refs/heads/main'" in publish["if"]
    assert "startsWith(github.ref, 'refs/tags/v')" in publish["if"]
    # A release tag must reach CI at all, or it could never be published.
    assert "v*" in WORKFLOWS["ci.yml"]["on"]["push"]["tags"]


def test_ci_hands_publish_only_the_two_docker_hub_secrets() -> None:
    """`secrets: inherit` would hand every repository secret to the build."""
    publish = jobs("ci.yml")["publish"]
    assert publish["secrets"] == {
        "DOCKERHUB_USERNAME": "${{ secrets.DOCKERHUB_USERNAME }}",
        "DOCKERHUB_TOKEN": "${{ secrets.DOCKERHUB_TOKEN }}",
    }


def test_publish_tags_sha_semver_and_latest_on_main_only() -> None:
    meta = step_using("publish.yml", "docker/metadata-action")["with"]
    tags = meta["tags"].split()
    assert "type=sha" in tags
    assert "type=semver,pattern={{version}}" in tags
    assert "type=raw,value=latest,enable={{is_default_branch}}" in tags
    # metadata-action would otherwise also move `latest` on every semver tag.
    assert "latest=false" in meta["flavor"].split()


def test_deploy_releases_the_image_name_publish_pushes() -> None:
    pushed = step_using("publish.yml", "docker/metadata-action")["with"]["images"]
    released = jobs("deploy.yml")["release"]["env"]["IMAGE"]
    assert released.startswith(f"{pushed}:")
    assert pushed == "${{ vars.DOCKERHUB_NAMESPACE }}/bookingapp-${{ matrix.service }}"
