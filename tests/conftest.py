"""Suite-wide settings: testcontainers without Ryuk, and an optional guard against skips."""

from __future__ import annotations

import os

import pytest

# Ryuk (testcontainers' reaper) is an image that cannot be pulled everywhere; every fixture
# here removes what it starts, so the reaper is not needed.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

# BOOKINGAPP_FORBID_SKIPS=all: nothing may skip (GitHub Actions, where every image exists).
# BOOKINGAPP_FORBID_SKIPS=except-traefik: only Traefik tests may skip (.ci/run on machines
# that cannot pull images). A skip the policy forbids fails the run.
_POLICY = os.environ.get("BOOKINGAPP_FORBID_SKIPS", "")
_forbidden: list[str] = []


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
