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
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from bookingapp_infra.errors import InfraError, InputError
from bookingapp_infra.local import bluegreen_rules as rules
from bookingapp_infra.local import bluegreen_state as st
from bookingapp_infra.local import bluegreen_traefik as tk
from bookingapp_infra.local import compose
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
from bookingapp_infra.params import SERVICES_DIR

# What a verb's parser sets as its `handler` default: it acts on the parsed arguments.
Handler = Callable[[argparse.Namespace], None]

STRATEGIES = ("rolling", "blue_green")
APPROVAL_TIMEOUT = 3600.0


# ECS's bake time when a blue/green deployment names none (BakeTimeInMinutes); the AWS side's
# params.py uses the same default, so a toml without the key means the same on both sides.
DEFAULT_BAKE_TIME_MINUTES = 15


@dataclass(frozen=True)
class Deployment:
    """The service's `[deployment]` keys the blue/green release reads (AWS names them alike)."""

    strategy: str = "rolling"
    bake_time_minutes: float = DEFAULT_BAKE_TIME_MINUTES
    approval: bool = False


def deployment_settings(service: str, services_dir: Path = SERVICES_DIR) -> Deployment:
    """Read strategy, bake_time_minutes and approval from infra/services/<service>.toml."""
    path = services_dir / f"{service}.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        known = ", ".join(sorted(p.stem for p in services_dir.glob("*.toml")))
        raise InputError(f"unknown service {service!r} (known: {known})") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{path.name}: not valid TOML: {err}") from err
    if raw.get("kind") != "app":
        raise InputError(
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


def check_deployment(where: str, d: Deployment, whole_minutes: bool = True) -> Deployment:
    """Refuse values the AWS side would refuse too (the command line may ask for less)."""
    if d.strategy not in STRATEGIES:
        raise InputError(
            f"{where}: deployment.strategy must be one of {STRATEGIES}, got {d.strategy!r}"
        )
    number = int if whole_minutes else int | float  # ECS takes whole minutes
    if isinstance(d.bake_time_minutes, bool) or not isinstance(d.bake_time_minutes, number):
        raise InputError(f"{where}: deployment.bake_time_minutes must be a number of minutes")
    if not 0 <= d.bake_time_minutes <= 1440:  # ECS BakeTimeInMinutes: 0..1440
        raise InputError(f"{where}: deployment.bake_time_minutes must be 0..1440")
    if not isinstance(d.approval, bool):
        raise InputError(f"{where}: deployment.approval must be true or false")
    return d


# -- the commands -----------------------------------------------------------------------


class Interrupted(InfraError):
    """Ctrl-C while a release runs: it stays where it is, and says how to go on."""

    exit_code = 130


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Teach `release` and `status` the blue/green strategy; add `approve` and `rollback`."""
    release = subparsers.choices.get("release") or new_release_parser(subparsers)
    add_release_options(release)
    release.set_defaults(handler=partial(dispatch_release, rolling=release.get_default("handler")))
    status = subparsers.choices.get("status") or subparsers.add_parser(
        "status", help="show a blue/green release"
    )
    if status.get_default("project") is None:
        compose.add_project_option(status)
    status.add_argument(
        "service", nargs="?", metavar="SERVICE", help="show this service's blue/green release"
    )
    status.set_defaults(handler=partial(dispatch_status, whole=status.get_default("handler")))
    for verb, handler, text in (
        ("approve", cmd_approve, "let a release paused after test traffic shift production"),
        ("rollback", cmd_rollback, "send all traffic back to blue now and remove green"),
    ):
        parser = subparsers.add_parser(verb, help=text, description=text)
        parser.add_argument("service", metavar="SERVICE")
        compose.add_project_option(parser)
        add_timeout_option(parser)
        parser.set_defaults(handler=handler)


def new_release_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add a `release` verb where no rolling release registered one."""
    parser = subparsers.add_parser("release", help="release a new image of one service")
    parser.add_argument("service", metavar="SERVICE")
    parser.add_argument("--image", required=True, help="an image on this machine")
    compose.add_project_option(parser)
    add_timeout_option(parser)
    return parser


def add_timeout_option(parser: argparse.ArgumentParser) -> None:
    """Add --timeout: seconds each step may take (the rolling release's option, same meaning)."""
    parser.add_argument(
        "--timeout",
        type=float,
        default=WAIT,
        help="seconds each step may take (replicas healthy, a rule live) (default: %(default)s)",
    )


def add_release_options(parser: argparse.ArgumentParser) -> None:
    """Add the blue/green options; each overrides the service's [deployment] in its toml."""
    group = parser.add_argument_group("blue/green (deployment.strategy = blue_green)")
    group.add_argument("--strategy", choices=STRATEGIES, help="override deployment.strategy")
    group.add_argument(
        "--bake-time-minutes", type=float, help="override deployment.bake_time_minutes"
    )
    group.add_argument(
        "--approval", action=argparse.BooleanOptionalAction, help="override deployment.approval"
    )
    group.add_argument(
        "--traffic-steps", help="green's production weights in percent, e.g. 10,50,100 "
        "(default: 100, all at once as on ECS)",
    )  # fmt: skip
    group.add_argument("--step-seconds", type=float, help="seconds between weight steps (10)")
    group.add_argument(
        "--approval-timeout",
        type=float,
        help=f"roll back when nobody approves within this many seconds ({APPROVAL_TIMEOUT:.0f})",
    )


BLUE_GREEN_ONLY = (
    "bake_time_minutes",
    "approval",
    "traffic_steps",
    "step_seconds",
    "approval_timeout",
)


def dispatch_release(args: argparse.Namespace, rolling: Handler) -> None:
    """Run the release the service's strategy (or --strategy) names."""
    strategy = args.strategy or strategy_of(args.service)
    if strategy == "blue_green":
        cmd_release(args)
        return
    given = [
        f"--{name.replace('_', '-')}" for name in BLUE_GREEN_ONLY if getattr(args, name) is not None
    ]
    if given:
        raise InputError(
            f"{', '.join(given)}: only for blue_green releases ({args.service} is {strategy})"
        )
    if rolling is None:
        raise InputError(f"{args.service} uses the rolling strategy; pass --strategy blue_green")
    try:
        rules_dir = tk.rules_dir(args.project)
    except InputError:
        rules_dir = None  # no stack or no rules directory: the rolling release says what's wrong
    if rules_dir is not None:
        refuse_if_busy(Paths.under(rules_dir, args.service), args.service)
    rolling(args)


def strategy_of(service: str) -> str:
    """Return deployment.strategy from the service's toml ("rolling" when it says nothing)."""
    try:
        return deployment_settings(service).strategy
    except InputError:
        return "rolling"  # unknown or backing services: the rolling release says why


def dispatch_status(args: argparse.Namespace, whole: Handler) -> None:
    """Show one service's blue/green release, or the whole project without a service."""
    if args.service:
        cmd_status(args)
    elif whole is not None:
        whole(args)
    else:
        raise InputError("name a service: status SERVICE")


def cmd_release(args: argparse.Namespace) -> None:
    """Run a blue/green release in the foreground; fail unless green serves everything."""
    release = plan(args)
    blue = compose.require_up(args.project, args.service)
    controller = Controller(args.project, release, wait=args.timeout)  # refuses without Traefik
    refuse_if_busy(controller.paths, args.service)
    unhealthy = [r.name for r in blue if r.health not in ("healthy", None)]
    if unhealthy:
        raise InputError(
            f"{args.service} has replicas that are not healthy: {', '.join(unhealthy)}"
        )
    compose.image_id(args.image)  # refuses when the image is not on this machine
    controller.save(replace(release, controller_pid=os.getpid()))
    print(
        f"{args.service}: blue/green release of {args.image} in {args.project} "
        f"(bake {release.bake_seconds:.0f} s, approval {'on' if release.approval else 'off'}, "
        f"production steps {', '.join(f'{s}%' for s in release.steps)})",
        flush=True,
    )
    run_controller(controller, args.approval_timeout or APPROVAL_TIMEOUT)


def plan(args: argparse.Namespace) -> st.Release:
    """Turn the toml's [deployment] and the options into a new release, or refuse."""
    settings = deployment_settings(args.service)
    steps_text = args.traffic_steps or str(rules.FULL)
    try:
        steps = st.check_steps(tuple(int(s) for s in steps_text.split(",")))
    except ValueError as err:
        raise InputError(f"--traffic-steps {steps_text!r}: {err}") from None
    if args.bake_time_minutes is not None:
        settings = check_deployment(
            "--bake-time-minutes",
            replace(settings, bake_time_minutes=args.bake_time_minutes),
            whole_minutes=False,
        )
    return st.Release(
        service=args.service,
        image=args.image,
        project=args.project,
        bake_seconds=60.0 * settings.bake_time_minutes,
        approval=settings.approval if args.approval is None else args.approval,
        steps=steps,
        step_seconds=10.0 if args.step_seconds is None else args.step_seconds,
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
        raise InputError(
            f"a release of {service} is already in progress ({current.status} {current.stage}, "
            f"{owner}): see `{PROG} status {service}`, or `{PROG} rollback {service}`"
        )


def run_controller(controller: Controller, approval_timeout: float = APPROVAL_TIMEOUT) -> None:
    """Drive the release; a failure before CLEAN_UP rolls back; fail unless it succeeded."""
    controller.approval_timeout = approval_timeout
    try:
        try:
            final = controller.drive()
        except InfraError as err:
            r = controller.release
            print(f"{r.service}: {r.stage}: failed: {err}", flush=True)
            try:
                controller.save(st.rollback(r, f"failed at {r.stage}: {err}"))
            except st.TransitionError:
                raise err from None
            final = controller.drive()
    except KeyboardInterrupt:
        r = controller.release
        raise Interrupted(
            f"interrupted at {r.stage}; the release stays where it is: "
            f"`{PROG} rollback {r.service}` sends everything back to blue, "
            f"`{PROG} approve {r.service}` continues a paused one"
        ) from None
    if final.status != st.SUCCESSFUL:
        raise InfraError(f"{final.service}: {final.status} ({final.reason})")


def active_release(args: argparse.Namespace) -> tuple[Controller, st.Release]:
    """Find the service's release in progress, or refuse."""
    current = load(Paths.under(tk.rules_dir(args.project), args.service))
    if current is None or not current.active:
        raise InputError(f"no release of {args.service} is in progress in {args.project!r}")
    return Controller(args.project, current, wait=args.timeout), current


def cmd_approve(args: argparse.Namespace) -> None:
    """Let a paused release move production traffic to green."""
    controller, current = active_release(args)
    try:
        st.approve(current)
    except st.TransitionError as err:
        raise InputError(str(err)) from None
    if alive(current.controller_pid):
        ask(controller, "approve")
        tk.wait_for(
            "the release taking the approval", lambda: not reload(controller).paused, args.timeout
        )
        print(
            f"{args.service}: approved; the release (pid {current.controller_pid}) "
            "moves production traffic to green"
        )
        return
    print(f"{args.service}: the release's controller is gone; continuing it here", flush=True)
    controller.save(st.approve(current))
    run_controller(controller)


def cmd_rollback(args: argparse.Namespace) -> None:
    """Send all traffic back to blue and remove green; fail unless that is done."""
    controller, current = active_release(args)
    try:
        st.rollback(current, "asked for")
    except st.TransitionError as err:
        raise InputError(str(err)) from None
    if alive(current.controller_pid):
        ask(controller, "rollback")
        tk.wait_for(
            "the release rolling back", lambda: not reload(controller).active, 3 * args.timeout
        )
    else:
        print(f"{args.service}: the release's controller is gone; rolling back here", flush=True)
        controller.save(st.rollback(current, "asked for"))
        controller.drive()
    final = reload(controller)
    if final.status != st.ROLLBACK_SUCCESSFUL:
        raise InfraError(f"{args.service}: {final.status}")
    print(f"{args.service}: {final.status}: all traffic on blue ({names_of(final.blue)})")


def ask(controller: Controller, request: str) -> None:
    """Leave a request for the running release to take."""
    write_atomically(controller.paths.request, request)


def reload(controller: Controller) -> st.Release:
    """Read the release's state again from disk."""
    current = load(controller.paths)
    if current is None:
        raise InfraError("the release's state file disappeared")
    return current


def cmd_status(args: argparse.Namespace) -> None:
    """Print the service's last blue/green release: stage, colours, weights."""
    current = load(Paths.under(tk.rules_dir(args.project), args.service))
    if current is None:
        print(f"{args.service}: no blue/green release recorded in {args.project!r}")
        return
    paused = " (paused for approval)" if current.paused else ""
    print(f"{args.service}: {current.status} {current.stage}{paused}, image {current.image}")
    print(f"  blue:  {names_of(current.blue)}")
    print(f"  green: {names_of(current.green)}")
    test = "on" if current.test_traffic else "off"
    print(f"  production traffic to green: {current.green_weight}%; test rule: {test}")
    if current.reason:
        print(f"  reason: {current.reason}")
