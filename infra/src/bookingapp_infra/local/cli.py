"""bookingapp-local: run the local stack the way ECS runs the services (release, status, ...).

Exit codes: 0 done, 1 something failed on the way (a release rolled back, a scaling failed),
2 the request cannot be right here (stack not up, image missing, unknown service), 130
interrupted. Every error is one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, cast

from bookingapp_infra.errors import InfraError
from bookingapp_infra.local import PROG, autoscale, status
from bookingapp_infra.local.autoscale.policy import TimingOverrides
from bookingapp_infra.local.docker import DEFAULT_PROJECT
from bookingapp_infra.local.strategies import blue_green, traffic_shift
from bookingapp_infra.local.strategies import release as releases
from bookingapp_infra.local.strategies.state import APPROVAL_TIMEOUT
from bookingapp_infra.local.strategies.strategy import Overrides, Say, flag
from bookingapp_infra.local.strategies.traffic_shift import Canary, Linear
from bookingapp_infra.local.wait import STEP_TIMEOUT
from bookingapp_infra.params import SERVICES_DIR

if TYPE_CHECKING:  # argparse's class is generic only to the type checker
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]
SERVICE_HELP = 'an app service: infra/services/SERVICE.toml says kind = "app"'


def say(line: str) -> None:
    """Print one progress line at once (a release's output is read live)."""
    print(line, flush=True)


def add_common(verb: argparse.ArgumentParser, timeout: bool = False) -> None:
    """Give a verb --project (every verb) and --timeout (those that wait for steps)."""
    verb.add_argument(
        "--project",
        default=os.environ.get("COMPOSE_PROJECT_NAME", DEFAULT_PROJECT),
        help="compose project name (default: %(default)s, or $COMPOSE_PROJECT_NAME)",
    )
    if timeout:
        verb.add_argument(
            "--timeout", type=float, default=STEP_TIMEOUT,
            help="seconds each step may take: replicas healthy and UP, a rule live "
            "(default: %(default)g)",
        )  # fmt: skip


def add_services_dir(verb: argparse.ArgumentParser) -> None:
    """Give a verb --services-dir: where the parameter files are read from."""
    verb.add_argument(
        "--services-dir", type=Path, metavar="DIR", default=SERVICES_DIR,
        help="where the parameter files are (default: infra/services)",
    )  # fmt: skip


# --- release -------------------------------------------------------------------------------


def add_release(subparsers: Subparsers) -> None:
    """`release SERVICE --image IMAGE`: by the service's [deployment] strategy."""
    verb = subparsers.add_parser(
        "release",
        help="release an image to a service by its [deployment] strategy (no request fails)",
        description="Release an image to a service the way ECS would: rolling, blue/green, "
        "linear or canary, as its infra/services/SERVICE.toml [deployment] says (or "
        "--strategy). Refuses "
        "replicas that run the development override's mounted sources.",
    )
    verb.add_argument("service", metavar="SERVICE", help=SERVICE_HELP)
    verb.add_argument(
        "--image", required=True,
        help="an image on this machine, e.g. one `TAG=v2 docker compose build SERVICE` made",
    )  # fmt: skip
    verb.add_argument(
        "--strategy", choices=sorted(releases.STRATEGIES),
        help="override deployment.strategy for this release",
    )  # fmt: skip
    shift = verb.add_argument_group("traffic-shifting releases (blue_green, linear, canary)")
    shift.add_argument(
        "--bake-time-minutes", type=float, metavar="MINUTES",
        help="override deployment.bake_time_minutes (fractions of a minute allowed)",
    )  # fmt: skip
    shift.add_argument(
        "--approval", action=argparse.BooleanOptionalAction, help="override deployment.approval"
    )
    shift.add_argument(
        "--approval-timeout", type=float, metavar="SECONDS",
        help=f"roll back when nobody approves within this many seconds ({APPROVAL_TIMEOUT:g})",
    )  # fmt: skip
    blue_green_only = verb.add_argument_group("blue_green (ECS moves production at once)")
    blue_green_only.add_argument(
        "--traffic-steps",
        metavar="WEIGHTS",
        help="green's production weights in percent, e.g. 10,50,100 (default: 100, all at "
        "once as on ECS)",
    )
    blue_green_only.add_argument(
        "--step-seconds", type=float, metavar="SECONDS",
        help=f"seconds each weight but the last is held ({blue_green.STEP_SECONDS:g})",
    )  # fmt: skip
    for gradual in (Linear, Canary):
        low, high = gradual.allowed
        group = verb.add_argument_group(gradual.name, (gradual.__doc__ or "").splitlines()[0])
        group.add_argument(
            flag(gradual.share), type=float, metavar="PERCENT",
            help=f"override deployment.{gradual.share} ({low:g}..{high:g} in steps of 0.1)",
        )  # fmt: skip
        group.add_argument(
            flag(gradual.held), type=float, metavar="MINUTES",
            help=f"override deployment.{gradual.held} (fractions of a minute allowed)",
        )  # fmt: skip
    add_services_dir(verb)
    add_common(verb, timeout=True)
    verb.set_defaults(handler=release)


def release(args: argparse.Namespace) -> None:
    """Handle `release`."""
    overrides = Overrides(**{f.name: getattr(args, f.name) for f in fields(Overrides)})
    releases.release(
        args.project, args.service, args.image, overrides, args.timeout, say, args.services_dir
    )


# --- approve, rollback, status -------------------------------------------------------------


# What the verbs that act on a release in progress do, by verb.
REQUESTS = {
    "approve": (
        "let a release paused after test traffic shift production to green",
        traffic_shift.approve,
    ),
    "rollback": ("send all traffic back to blue now and remove green", traffic_shift.rollback),
}


def add_requests(subparsers: Subparsers) -> None:
    """`approve SERVICE`, `rollback SERVICE`: ask the release in progress (or take it over)."""
    for name, (text, act) in REQUESTS.items():
        verb = subparsers.add_parser(name, help=text, description=text)
        verb.add_argument("service", metavar="SERVICE", help=SERVICE_HELP)
        add_common(verb, timeout=True)
        verb.set_defaults(handler=partial(request, act))


def request(act: Callable[[str, str, float, Say], None], args: argparse.Namespace) -> None:
    """Handle `approve` or `rollback`."""
    act(args.project, args.service, args.timeout, say)


def add_status(subparsers: Subparsers) -> None:
    """`status [SERVICE]`: every replica, or one service's release."""
    verb = subparsers.add_parser(
        "status", help="show replicas, images, health and Traefik's pool; or a service's release"
    )
    verb.add_argument(
        "service",
        nargs="?",
        metavar="SERVICE",
        help="show this service's traffic-shifting release: stage, colours, weights",
    )
    add_common(verb)
    verb.set_defaults(handler=show_status)


def show_status(args: argparse.Namespace) -> None:
    """Handle `status`."""
    if args.service:
        status.release_status(args.project, args.service, say)
    else:
        status.status(args.project, say)


# --- autoscale -----------------------------------------------------------------------------


def add_autoscale(subparsers: Subparsers) -> None:
    """`autoscale`: every app's target tracking policy, until Ctrl-C (or --once)."""
    verb = subparsers.add_parser(
        "autoscale",
        help="scale the apps by their own CPU target tracking policies (infra/services)",
        description="Scale each app the way its [autoscaling] target tracking policy would.",
    )
    add_common(verb)
    add_services_dir(verb)
    verb.add_argument(
        "--once", action="store_true",
        help="collect the datapoints both alarms need, decide once, carry it out, exit "
        "(1 when a decided scaling failed)",
    )  # fmt: skip
    verb.add_argument(
        "--sample-interval", type=float, metavar="SECONDS",
        default=autoscale.DEFAULT_SAMPLE_INTERVAL,
        help="seconds between CPU samples (default: %(default)g)",
    )  # fmt: skip
    verb.add_argument(
        "--cpu-target", type=float, metavar="PERCENT",
        help="every app's CPU target for this run instead of its cpu_target (a demo on a "
        "small or busy machine, where 60%% of a replica's limit is out of reach)",
    )  # fmt: skip
    timings = verb.add_argument_group("policy timings (AWS's by default; shorter for tests)")
    for option, kind, metavar, text in TIMING_OPTIONS:
        timings.add_argument(option, type=kind, metavar=metavar, help=text)
    verb.set_defaults(handler=run_autoscale)


TIMING_OPTIONS: tuple[tuple[str, Callable[[str], object], str, str], ...] = (
    ("--period", float, "SECONDS", "seconds per datapoint (CloudWatch: 60)"),
    ("--scale-out-datapoints", int, "N", "datapoints above target to scale out (AWS: 3)"),
    ("--scale-in-datapoints", int, "N", "datapoints below 90%% of target to scale in (AWS: 15)"),
    ("--scale-out-cooldown", float, "SECONDS", "seconds (default: the params', else 300)"),
    ("--scale-in-cooldown", float, "SECONDS", "seconds (default: the params', else 300)"),
)


def run_autoscale(args: argparse.Namespace) -> None:
    """Handle `autoscale`."""
    names = [option.removeprefix("--").replace("-", "_") for option, *_ in TIMING_OPTIONS]
    given = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    timings = cast(TimingOverrides, given)  # argparse's types: float, int per option
    autoscale.autoscale(
        args.project,
        args.services_dir,
        timings,
        args.once,
        args.sample_interval,
        cpu_target=args.cpu_target,
    )


# --- the command line ----------------------------------------------------------------------

VERBS = (add_release, add_requests, add_status, add_autoscale)


def parser() -> argparse.ArgumentParser:
    """Build the parser: one subcommand per verb."""
    top = argparse.ArgumentParser(prog=PROG, description=(__doc__ or "").splitlines()[0])
    subparsers = top.add_subparsers(dest="verb", required=True, metavar="COMMAND")
    for add in VERBS:
        add(subparsers)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run one verb and return its exit code; errors become one line on stderr."""
    args = parser().parse_args(argv)
    try:
        args.handler(args)
    except InfraError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; containers started so far keep running", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
