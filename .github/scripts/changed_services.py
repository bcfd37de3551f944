#!/usr/bin/env python3
"""Print, as a JSON list, the app services a change touches: the matrix CI builds and releases.

Services are read from the repository, never listed here: a service is a uv workspace member
whose pyproject depends on bookingapp-common. The tests import this module's `app_services()`
(tests/support.py), so CI's matrix and the test suite share one definition of a service.
A change under a service's directory touches that service; a change to what every image is
built from (the shared library, the lock, the root Dockerfile or pyproject) touches them all.

Standard library only, so it runs on a bare CI runner before any environment is installed.

    changed_services.py --all                     every service
    changed_services.py --base SHA [--head REF]   services changed between SHA and REF
    changed_services.py --since-tag-before REF    services changed since the v* tag before REF
    changed_services.py --only "home, movie"      those services, checked to exist ("all": all)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

COMMON_PACKAGE = "bookingapp-common"
# What every image is built from: a change to any of them rebuilds and releases every service.
# Entries ending in "/" are directories; the others are exact files at the repository root.
SHARED_PATHS = ("common/", "uv.lock", "pyproject.toml", "Dockerfile", ".dockerignore")
RELEASE_TAGS = "v*"
ROOT = Path(__file__).resolve().parents[2]


class UsageError(Exception):
    """A request this script cannot answer, with a message for the person who made it."""


def requirement_name(requirement: str) -> str:
    """Return the normalised distribution name at the start of a PEP 508 requirement."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else ""


def app_services(root: Path = ROOT) -> list[str]:
    """Return the workspace members that are apps built on the shared core, in workspace order."""
    workspace = tomllib.loads((root / "pyproject.toml").read_text())
    services = []
    for member in workspace["tool"]["uv"]["workspace"]["members"]:
        project = tomllib.loads((root / member / "pyproject.toml").read_text())["project"]
        names = {requirement_name(dep) for dep in project.get("dependencies", [])}
        if COMMON_PACKAGE in names:
            services.append(member)
    return services


def is_shared(path: str) -> bool:
    """Say whether a changed path goes into every image."""
    return any(
        path.startswith(shared) if shared.endswith("/") else path == shared
        for shared in SHARED_PATHS
    )


def affected(paths: Iterable[str], services: list[str]) -> list[str]:
    """Return the services (in the given order) that changes to these paths touch."""
    paths = list(paths)
    if any(is_shared(path) for path in paths):
        return list(services)
    return [s for s in services if any(path.startswith(f"{s}/") for path in paths)]


def git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run git in the repository and return the finished process, whatever its exit status."""
    return subprocess.run(  # noqa: S603 - fixed git subcommands, arguments as a list, no shell
        ["git", "-C", str(root), *args],  # noqa: S607 - git is found on PATH on purpose
        capture_output=True,
        text=True,
        check=False,
    )


def commit_exists(root: Path, ref: str) -> bool:
    """Say whether ref names a commit present in this clone."""
    if not ref.strip("0"):
        return False  # GitHub sends forty zeros as "before" when a branch is first pushed
    return git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode == 0


def changed_paths(root: Path, base: str, head: str) -> list[str] | None:
    """Return the paths that differ between two commits, or None when base is not usable."""
    if not commit_exists(root, base):
        return None
    # --no-renames: a file moved from one service to another changes both.
    diff = git(root, "diff", "--name-only", "--no-renames", "-z", base, head)
    if diff.returncode != 0:
        raise UsageError(f"git diff {base} {head} failed: {diff.stderr.strip()}")
    return [path for path in diff.stdout.split("\0") if path]


def previous_release_tag(root: Path, ref: str) -> str | None:
    """Return the newest release tag reachable from ref's parent, or None when there is none."""
    described = git(root, "describe", "--tags", "--abbrev=0", "--match", RELEASE_TAGS, f"{ref}^")
    if described.returncode != 0:
        return None
    return described.stdout.strip() or None


def since(root: Path, base: str | None, head: str, services: list[str]) -> list[str]:
    """Return the services changed from base to head; all of them when base is unknown."""
    paths = changed_paths(root, base, head) if base else None
    if paths is None:
        # A first push, a force-push or a first release leaves nothing trustworthy to compare
        # with, and rebuilding everything is the answer that can't miss a change.
        print(f"no usable base commit ({base or 'none'}): taking every service", file=sys.stderr)
        return list(services)
    return affected(paths, services)


def select(names: str, services: list[str]) -> list[str]:
    """Return the named services (comma or space separated; "all" for every one) in order."""
    wanted = set(re.split(r"[\s,]+", names.strip())) - {""}
    if wanted == {"all"}:
        return list(services)
    unknown = sorted(wanted - set(services))
    if unknown or not wanted:
        raise UsageError(
            f"unknown service(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from: all, {', '.join(services)}"
        )
    return [s for s in services if s in wanted]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root")
    parser.add_argument("--head", default="HEAD", help="commit to compare (default HEAD)")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--all", action="store_true", help="every service")
    mode.add_argument("--base", help="services changed between this commit and --head")
    mode.add_argument(
        "--since-tag-before", metavar="REF", help="services changed since the v* tag before REF"
    )
    mode.add_argument("--only", metavar="NAMES", help='these services, or "all"')
    return parser.parse_args(argv)


def choose(args: argparse.Namespace) -> list[str]:
    """Return the services the command line asks for."""
    services = app_services(args.root)
    if args.all:
        return services
    if args.only is not None:
        return select(args.only, services)
    if args.since_tag_before is not None:
        base = previous_release_tag(args.root, args.since_tag_before)
        return since(args.root, base, args.since_tag_before, services)
    return since(args.root, args.base, args.head, services)


def main(argv: list[str] | None = None) -> int:
    """Print the chosen services as a compact JSON list; exit 2 with a message on bad input."""
    args = parse_args(argv)
    try:
        chosen = choose(args)
    except UsageError as error:
        print(f"changed_services: {error}", file=sys.stderr)
        return 2
    print(json.dumps(chosen, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
