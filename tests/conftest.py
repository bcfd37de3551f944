"""Suite-wide settings: the one place that decides Docker skips, and the guard against skips.

Test modules only mark themselves (`pytestmark = pytest.mark.docker`, plus `traefik` for the
suites that go through a Traefik image); tests whose Redis will be a container (no
redis-server installed) are marked `docker` here at collection. Whether the engine or the
image is there is asked once, when the first such test is about to run, never at import:
`pytest -m "not docker"` touches no Docker engine at all.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import docker_problem, traefik_problem, unit_redis_is_a_container

# Ryuk (testcontainers' reaper) is an image that cannot be pulled everywhere; every fixture
# here removes what it starts, so the reaper is not needed.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

# BOOKINGAPP_FORBID_SKIPS=all: nothing may skip (CI: GitHub Actions and .ci/run).
# BOOKINGAPP_FORBID_SKIPS=except-traefik: only Traefik tests may skip (machines that cannot
# pull or build a Traefik image). A skip the policy forbids fails the run.
_POLICY = os.environ.get("BOOKINGAPP_FORBID_SKIPS", "")
_forbidden: list[str] = []


# Parallel workers (pytest-xdist, `-n auto --dist loadgroup` in pyproject). The tests that
# need Docker run in three streams, each on one worker, one test after another: the releases
# (tests/local/strategies), the rest of the local control plane (autoscaling, journeys, the
# README's blocks) and every other one. The tests without Docker (lint, templates, moto,
# unit tests) go a module at a time to whichever worker is free. A third stream is safe
# only with NICE below (without it, fc42f43, reverted, failed a run of two) and with the
# clients under load paced (tests/compose/edge.py PACE). A fourth stream bought nothing on
# two cores: with the streams balanced the run was no faster (612 s) and the CPU 87-100 %
# busy minute by minute, so every test took longer. Figures and history: docs/testing.md.
DOCKER_STREAM = "docker"  # every Docker test no entry below names
DOCKER_STREAMS = {  # the first entry a test's path lies under names its stream
    Path("tests/local/strategies"): "docker-releases",
    Path("tests/local"): "docker-local",
    # The README's blocks drive the local control plane too; its autoscaling demo and the
    # scaler's run both load movie's CPU past a target, so they go one after the other.
    Path("tests/test_readme.py"): "docker-local",
}
# One worker per stream, however few the cores.
WORKERS = len({*DOCKER_STREAMS.values(), DOCKER_STREAM})


# The test processes (clients under load, the docker and bookingapp-local commands they run)
# yield the CPU to the stack under test. On AWS the clients are other machines and every
# task has its own vCPU; here they share two cores, and on cgroup v1 (cgroupfs driver) all
# containers together weigh as much as one busy test process: most likely why three
# streams' clients slowed Redis past the counter's 0.4 s per attempt (503s no event caused,
# fc42f43). At nice 10 a test process weighs a tenth of that. On cgroup v2 with systemd's
# driver (most laptops) containers and a login session are separate slices, which nice does
# not cross: no effect.
NICE = 10


def pytest_configure(config: pytest.Config) -> None:
    """Lower this process's CPU priority to NICE (inherited by xdist's workers and commands)."""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    os.setpriority(os.PRIO_PROCESS, 0, max(current, NICE))  # absolute: workers don't add theirs


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Start one worker per Docker stream at least (`-n auto`), more where the cores are."""
    return max(WORKERS, os.cpu_count() or 1)


# The fixtures that start a Redis: a redis-server process where one is installed, else a
# container (tests/unit/conftest.py, tests/unit/test_redis_tls.py, tests/unit/test_failover.py).
REDIS_FIXTURES = {"redis_server", "tls_redis", "redis_pair"}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group tests for the parallel workers; mark those whose Redis is a container `docker`."""
    # Decided from PATH and the environment only: collecting never asks Docker anything.
    if unit_redis_is_a_container():
        for item in items:
            if REDIS_FIXTURES & set(getattr(item, "fixturenames", ())):
                item.add_marker(pytest.mark.docker)
    for item in items:  # after the markers above: a container Redis makes a Docker test
        item.add_marker(pytest.mark.xdist_group(worker_group(item)))
    items[:] = streams_first(items)


def streams_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """Put the Docker streams' tests first, every other order kept.

    xdist hands out groups in the order they first appear (`--no-loadscope-reorder` in
    pyproject; its default orders them by their number of tests, which put the local stream,
    25-31 long tests, behind a dozen modules of quick ones): so each stream starts at once,
    on a worker of its own, and the other tests go to workers as they come free.
    """
    streams = {*DOCKER_STREAMS.values(), DOCKER_STREAM}
    return sorted(items, key=lambda item: worker_group(item) not in streams)


def worker_group(item: pytest.Item) -> str:
    """Name the tests that share a worker: a Docker stream, else the module's."""
    where = item.path.relative_to(item.config.rootpath)
    if item.get_closest_marker("docker"):
        streams = (s for d, s in DOCKER_STREAMS.items() if where.is_relative_to(d))
        return next(streams, DOCKER_STREAM)
    return where.as_posix()


def _missing_for(item: pytest.Item) -> str | None:
    """Say what a test's markers ask for that this machine lacks, or None."""
    if item.get_closest_marker("docker") and docker_problem():
        return f"needs a Docker engine ({docker_problem()}); start Docker, or run -m 'not docker'"
    if item.get_closest_marker("traefik") and traefik_problem():
        return f"needs a Traefik image ({traefik_problem()})"
    return None


# A hook, not an autouse fixture: pytest sets up wider-scoped fixtures (a module's Redis
# container, the session's compose stack) before any function-scoped one, so a skip decided in
# an autouse fixture would come after those had already called Docker. This hook runs before
# any fixture of the test.
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a `docker` / `traefik` test, with the reason, where its engine or image is missing."""
    reason = _missing_for(item)
    if reason:
        pytest.skip(reason)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember skips the policy forbids."""
    if not _POLICY or not report.skipped or hasattr(report, "wasxfail"):
        return
    if _POLICY == "except-traefik" and "traefik" in report.keywords:
        return
    _forbidden.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a forbidden skip happened."""
    if _forbidden and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    """List the forbidden skips, so the reason is visible at the end of the run."""
    if _forbidden:
        terminalreporter.section(f"skips forbidden by BOOKINGAPP_FORBID_SKIPS={_POLICY}")
        for nodeid in _forbidden:
            terminalreporter.line(nodeid)
