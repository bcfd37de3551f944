"""Blue/green releases on the local stack: `release` (blue_green), `approve`, `rollback`, `status`.

The same release as ECS's built-in blue/green, played by compose and Traefik:

1. PRE_SCALE_UP: production traffic is pinned to the current (blue) replicas by a file rule
   that shadows the service's Docker router, so whatever joins `S@docker` later gets none.
2. SCALE_UP: green replicas start from the new image beside blue, as replicas of the same
   compose service (the ECS service's new revision); the release waits until they're healthy.
3. TEST_TRAFFIC_SHIFT: requests with `X-Bookingapp-Test: green` reach green only.
4. POST_TEST_TRAFFIC_SHIFT: with `approval`, the release pauses until `approve` (or
   `rollback`) from another terminal.
5. PRODUCTION_TRAFFIC_SHIFT: production moves to green, at once or in weighted steps.
6. BAKE_TIME: blue keeps running `bake_time_minutes`, so `rollback` is still instant.
7. CLEAN_UP: blue is drained (SIGTERM: the app fails its health check and keeps serving its
   drain period) and removed; then the file rules go and `S@docker` (green only) serves.

`rollback` before CLEAN_UP sends everything back to blue at once and removes green. The
release process drives the stages; `approve`/`rollback` ask it through a request file, or
take over when it is gone (Ctrl-C, a closed terminal). Exit codes: 0 done, 1 the release
failed or rolled back, 2 refused (stack not up, no such image, a release in progress, ...).
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bookingapp_infra.local import bluegreen_docker as dk
from bookingapp_infra.local import bluegreen_rules as rules
from bookingapp_infra.local import bluegreen_state as st
from bookingapp_infra.local.bluegreen_controller import (
    PROG,
    WAIT,
    Controller,
    Paths,
    alive,
    load,
    names_of,
    write_atomically,
)
from bookingapp_infra.local.bluegreen_docker import LocalError, RefusedError
from bookingapp_infra.params import SERVICES_DIR

STRATEGIES = ("rolling", "blue_green")
DEFAULT_PROJECT = "bookingapp"  # compose.yaml's `name:`


@dataclass(frozen=True)
class Deployment:
    """The service's `[deployment]` keys the blue/green release reads (AWS names them alike)."""

    strategy: str = "rolling"
    bake_time_minutes: float = 0
    approval: bool = False


def deployment_settings(service: str, services_dir: Path = SERVICES_DIR) -> Deployment:
    """Read strategy, bake_time_minutes and approval from infra/services/<service>.toml."""
    path = services_dir / f"{service}.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        known = ", ".join(sorted(p.stem for p in services_dir.glob("*.toml")))
        raise RefusedError(f"unknown service {service!r} (known: {known})") from None
    except tomllib.TOMLDecodeError as err:
        raise RefusedError(f"{path.name}: not valid TOML: {err}") from err
    if raw.get("kind") != "app":
        raise RefusedError(
            f"{service} is not an app behind the ALB: it stays on rolling releases "
            "(two Redis tasks would split the counter)"
        )
    table = raw.get("deployment", {})
    settings = Deployment(
        strategy=table.get("strategy", Deployment.strategy),
        bake_time_minutes=table.get("bake_time_minutes", Deployment.bake_time_minutes),
        approval=table.get("approval", Deployment.approval),
    )
    return check_deployment(path.name, settings)


def check_deployment(where: str, d: Deployment) -> Deployment:
    """Refuse values the AWS side would refuse too."""
    if d.strategy not in STRATEGIES:
        raise RefusedError(
            f"{where}: deployment.strategy must be one of {STRATEGIES}, got {d.strategy!r}"
        )
    if isinstance(d.bake_time_minutes, bool) or not isinstance(d.bake_time_minutes, int | float):
        raise RefusedError(f"{where}: deployment.bake_time_minutes must be a number of minutes")
    if not 0 <= d.bake_time_minutes <= 1440:  # ECS BakeTimeInMinutes: 0..1440
        raise RefusedError(f"{where}: deployment.bake_time_minutes must be 0..1440")
    if not isinstance(d.approval, bool):
        raise RefusedError(f"{where}: deployment.approval must be true or false")
    return d


# -- the commands -----------------------------------------------------------------------


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the blue/green verbs: release, approve, rollback, status."""
    rel = subparsers.add_parser("release", help="release a new image of one service")
    add_common(rel)
    rel.add_argument("--image", required=True, help="image reference present on this engine")
    add_release_options(rel)
    rel.set_defaults(run=cmd_release)
    for verb, run, text in (
        ("approve", cmd_approve, "continue a release paused after test traffic"),
        ("rollback", cmd_rollback, "send all traffic back to blue and remove green"),
        ("status", cmd_status, "show the service's blue/green release and its routing"),
    ):
        parser = subparsers.add_parser(verb, help=text)
        add_common(parser)
        parser.set_defaults(run=run)


def add_common(parser: argparse.ArgumentParser) -> None:
    """Add the arguments every verb takes: the service and the compose project."""
    parser.add_argument("service", metavar="SERVICE")
    parser.add_argument(
        "--project",
        default=os.environ.get("COMPOSE_PROJECT_NAME", DEFAULT_PROJECT),
        help="compose project name (default: $COMPOSE_PROJECT_NAME or %(default)s)",
    )
    parser.add_argument("--wait", type=float, default=WAIT, help="seconds allowed per step")


def add_release_options(parser: argparse.ArgumentParser) -> None:
    """Add the blue/green options; each overrides the service's [deployment] in its toml."""
    parser.add_argument("--strategy", choices=STRATEGIES, help="override deployment.strategy")
    parser.add_argument(
        "--bake-time-minutes", type=float, help="override deployment.bake_time_minutes"
    )
    parser.add_argument(
        "--approval", action=argparse.BooleanOptionalAction, help="override deployment.approval"
    )
    parser.add_argument(
        "--traffic-steps",
        default=str(rules.FULL),
        help="green's production weights in percent, e.g. 10,50,100 (default: all at once)",
    )
    parser.add_argument(
        "--step-seconds", type=float, default=10.0, help="seconds between weight steps"
    )
    parser.add_argument(
        "--approval-timeout",
        type=float,
        default=3600.0,
        help="roll back a release nobody approved within this many seconds",
    )


def cmd_release(args: argparse.Namespace) -> int:
    """Run a blue/green release in the foreground; 0 only when green serves everything."""
    release = plan(args)
    controller = Controller(args.project, release, wait=args.wait)  # refuses if no Traefik
    refuse_if_busy(controller.paths, args.service)
    boxes = dk.running(args.project, args.service)
    if not boxes:
        raise RefusedError(f"the stack is not up: no running {args.service} in {args.project!r}")
    unhealthy = [b["Name"].lstrip("/") for b in boxes if dk.health(b) != "healthy"]
    if unhealthy:
        raise RefusedError(
            f"{args.service} has replicas that are not healthy: {', '.join(unhealthy)}"
        )
    if not dk.image_exists(args.image):
        raise RefusedError(
            f"image {args.image!r} does not exist on this Docker engine (build or pull it first)"
        )
    controller.save(replace(release, controller_pid=os.getpid()))
    print(
        f"{args.service}: blue/green release of {args.image} (bake {release.bake_seconds:.0f} s, "
        f"approval {'on' if release.approval else 'off'}, steps {release.steps})",
        flush=True,
    )
    return run_controller(controller, approval_timeout=args.approval_timeout)


def plan(args: argparse.Namespace) -> st.Release:
    """Turn the toml's [deployment] and the options into a new release, or refuse."""
    settings = deployment_settings(args.service)
    strategy = args.strategy or settings.strategy
    if strategy != "blue_green":
        raise RefusedError(
            f"{args.service}'s deployment.strategy is {strategy!r}: use the rolling release, "
            "or pass --strategy blue_green"
        )
    try:
        steps = st.check_steps(tuple(int(s) for s in args.traffic_steps.split(",")))
    except ValueError as err:
        raise RefusedError(f"--traffic-steps {args.traffic_steps!r}: {err}") from None
    bake = (
        args.bake_time_minutes if args.bake_time_minutes is not None else settings.bake_time_minutes
    )
    check_deployment("--bake-time-minutes", replace(settings, bake_time_minutes=bake))
    return st.Release(
        service=args.service,
        image=args.image,
        project=args.project,
        bake_seconds=60.0 * bake,
        approval=settings.approval if args.approval is None else args.approval,
        steps=steps,
        step_seconds=args.step_seconds,
    )


def refuse_if_busy(paths: Paths, service: str) -> None:
    """Refuse a second release of a service while one is in progress."""
    current = load(paths)
    if current and current.active:
        owner = (
            f"driven by pid {current.controller_pid}"
            if alive(current.controller_pid)
            else "its controller is gone"
        )
        raise RefusedError(
            f"a release of {service} is already in progress ({current.status} {current.stage}, "
            f"{owner}): see `{PROG} status {service}`, or `{PROG} rollback {service}`"
        )


def run_controller(controller: Controller, approval_timeout: float = 3600.0) -> int:
    """Drive the release; on a failure before CLEAN_UP roll back; return the exit code."""
    controller.approval_timeout = approval_timeout
    try:
        final = controller.drive()
    except LocalError as err:
        r = controller.release
        print(f"{r.service}: {r.stage}: failed: {err}", file=sys.stderr, flush=True)
        try:
            controller.save(st.rollback(r, f"failed at {r.stage}: {err}"))
        except st.TransitionError:
            raise err from None
        final = controller.drive()
    except KeyboardInterrupt:
        r = controller.release
        print(
            f"{PROG}: interrupted at {r.stage}; the release stays where it is: "
            f"`{PROG} rollback {r.service}` sends everything back to blue, "
            f"`{PROG} approve {r.service}` continues it",
            file=sys.stderr,
        )
        return 130
    return 0 if final.status == st.SUCCESSFUL else 1


def active_release(args: argparse.Namespace) -> tuple[Controller, st.Release]:
    """Find the service's release in progress, or refuse."""
    traefik = dk.find_traefik(args.project)
    current = load(Paths.under(traefik.rules_dir, args.service))
    if current is None or not current.active:
        raise RefusedError(f"no release of {args.service} is in progress in {args.project!r}")
    return Controller(args.project, current, wait=args.wait), current


def cmd_approve(args: argparse.Namespace) -> int:
    """Let a paused release move production traffic to green."""
    controller, current = active_release(args)
    try:
        st.approve(current)
    except st.TransitionError as err:
        raise RefusedError(str(err)) from None
    if alive(current.controller_pid):
        ask(controller, "approve")
        dk.wait_for(
            "the release taking the approval", lambda: not reload(controller).paused, args.wait
        )
        print(
            f"{args.service}: approved; the release (pid {current.controller_pid}) "
            "moves production traffic to green"
        )
        return 0
    print(f"{args.service}: the release's controller is gone; continuing it here", flush=True)
    controller.save(st.approve(current))
    return run_controller(controller)


def cmd_rollback(args: argparse.Namespace) -> int:
    """Send all traffic back to blue and remove green; 0 when that is done."""
    controller, current = active_release(args)
    try:
        st.rollback(current, "asked for")
    except st.TransitionError as err:
        raise RefusedError(str(err)) from None
    if alive(current.controller_pid):
        ask(controller, "rollback")
        dk.wait_for(
            "the release rolling back", lambda: not reload(controller).active, 3 * args.wait
        )
    else:
        controller.save(st.rollback(current, "asked for"))
        controller.drive()
    final = reload(controller)
    print(f"{args.service}: {final.status}")
    return 0 if final.status == st.ROLLBACK_SUCCESSFUL else 1


def ask(controller: Controller, request: str) -> None:
    """Leave a request for the running release to take."""
    write_atomically(controller.paths.request, request)


def reload(controller: Controller) -> st.Release:
    """Read the release's state again from disk."""
    current = load(controller.paths)
    if current is None:
        raise LocalError("the release's state file disappeared")
    return current


def cmd_status(args: argparse.Namespace) -> int:
    """Print the service's last release and what Traefik routes now."""
    traefik = dk.find_traefik(args.project)
    current = load(Paths.under(traefik.rules_dir, args.service))
    if current is None:
        print(f"{args.service}: no blue/green release recorded in {args.project!r}")
        return 0
    paused = " (paused for approval)" if current.paused else ""
    print(f"{args.service}: {current.status} {current.stage}{paused}, image {current.image}")
    print(f"  blue:  {names_of(current.blue)}")
    print(f"  green: {names_of(current.green)}")
    print(
        f"  production traffic to green: {current.green_weight}%; test rule: "
        f"{'on' if current.test_traffic else 'off'}"
    )
    if current.reason:
        print(f"  reason: {current.reason}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one blue/green verb on its own (until the local CLI hosts these verbs)."""
    top = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    add_parser(top.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = top.parse_args(argv)
    try:
        return args.run(args)
    except LocalError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
