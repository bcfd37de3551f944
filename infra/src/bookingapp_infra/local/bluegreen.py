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
import json
import os
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bookingapp_infra.local import bluegreen_docker as dk
from bookingapp_infra.local import bluegreen_rules as rules
from bookingapp_infra.local import bluegreen_state as st
from bookingapp_infra.local.bluegreen_docker import LocalError, RefusedError
from bookingapp_infra.params import SERVICES_DIR

PROG = "bookingapp-local"
STRATEGIES = ("rolling", "blue_green")
DEFAULT_PROJECT = "bookingapp"  # compose.yaml's `name:`
STATE_DIR = ".bluegreen"  # inside the rules directory; Traefik reads only .yml/.toml files
WAIT = 180.0  # seconds for one step: replicas healthy, Traefik applying a rule change
POLL = 0.5


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


@dataclass(frozen=True)
class Paths:
    """Where one service's release keeps its rules, state, requests and compose override."""

    rules: Path
    state: Path
    request: Path
    override: Path

    @classmethod
    def under(cls, rules_dir: Path, service: str) -> Paths:
        """Return the paths for one service in Traefik's rules directory."""
        state_dir = rules_dir / STATE_DIR
        return cls(
            rules=rules_dir / f"bluegreen-{service}.yml",
            state=state_dir / f"{service}.json",
            request=state_dir / f"{service}.request",
            # .json, not .yml: Traefik also reads rules from subdirectories.
            override=state_dir / f"{service}.compose.json",
        )


def write_atomically(path: Path, text: str) -> None:
    """Write a file by rename, so Traefik and other commands never read half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    temp.replace(path)


def load(paths: Paths) -> st.Release | None:
    """Return the service's last recorded release, or None."""
    try:
        return st.from_json(paths.state.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def alive(pid: int) -> bool:
    """Say whether a process with this id is running (the controller of a release)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


class Controller:
    """Drives one release through its stages on one compose project, saying what it does."""

    def __init__(self, project: str, release: st.Release, wait: float = WAIT) -> None:
        self.project = project
        self.release = release
        self.wait = wait
        self.traefik = dk.find_traefik(project)
        self.paths = Paths.under(self.traefik.rules_dir, release.service)
        self.labels: dk.ServiceLabels | None = None
        self.approval_timeout = 3600.0

    def say(self, message: str) -> None:
        """Print one progress line, prefixed with the service and the stage."""
        r = self.release
        print(f"{r.service}: {r.stage}: {message}", flush=True)

    def save(self, release: st.Release) -> None:
        """Keep the new state in memory and on disk."""
        self.release = release
        write_atomically(self.paths.state, st.to_json(release))

    # -- the routing Traefik should have now ------------------------------------------

    def service_labels(self) -> dk.ServiceLabels:
        """Read the service's router and health check from a running replica's labels."""
        if self.labels is None:
            boxes = dk.running(self.project, self.release.service)
            if not boxes:
                raise LocalError(f"no running {self.release.service} replica to read labels from")
            self.labels = dk.read_labels(self.release.service, boxes[0]["Config"]["Labels"])
        return self.labels

    def routing(self, blue: bool = True) -> rules.Routing:
        """Return the rules for the current state (blue=False once blue is being removed)."""
        r, labels = self.release, self.service_labels()
        rolling_back = r.status == st.ROLLBACK_IN_PROGRESS
        return rules.Routing(
            service=r.service,
            listener=labels.listener,
            health=labels.health,
            blue=tuple(x.url for x in r.blue) if blue else (),
            green=() if rolling_back else tuple(x.url for x in r.green),
            green_weight=r.green_weight,
            test=r.test_traffic and not rolling_back,
        )

    def apply(self, routing: rules.Routing) -> None:
        """Write the rules and wait until Traefik routes by them, with every target UP."""
        config = rules.render(routing)
        write_atomically(self.paths.rules, rules.dump(config, routing.service))
        dk.wait_for(
            "Traefik applying the new listener rules",
            lambda: self.applied(routing),
            self.wait,
        )

    def applied(self, routing: rules.Routing) -> bool:
        """Say whether Traefik's API shows exactly these rules and their targets UP."""
        n = rules.names(routing.service)
        router = self.traefik.get(f"/api/http/routers/{n['production']}@file")
        if not router or router.get("status") != "enabled":
            return False
        weighted = self.traefik.get(f"/api/http/services/{n['production']}@file") or {}
        shown = {
            s["name"].split("@")[0]: s["weight"]
            for s in weighted.get("weighted", {}).get("services", [])
        }
        if shown != rules.weights(routing):
            return False
        test = self.traefik.get(f"/api/http/routers/{n['test']}@file")
        if bool(test and test.get("status") == "enabled") != routing.test:
            return False
        groups = (("blue", routing.blue), ("green", routing.green))
        return all(self.servers_up(f"{n[c]}@file", urls) for c, urls in groups if urls)

    def servers_up(self, service: str, urls: Sequence[str]) -> bool:
        """Say whether a Traefik service has exactly these servers, all UP."""
        shown = (self.traefik.get(f"/api/http/services/{service}") or {}).get("serverStatus", {})
        return set(shown) == set(urls) and all(v == "UP" for v in shown.values())

    def remove_rules(self, survivors: tuple[st.Replica, ...]) -> None:
        """Hand routing back to the Docker router once `S@docker` is exactly the survivors."""
        service = self.release.service
        dk.wait_for(
            f"Traefik's {service}@docker pool becoming exactly the remaining replicas",
            lambda: self.servers_up(f"{service}@docker", [x.url for x in survivors]),
            self.wait,
        )
        self.paths.rules.unlink(missing_ok=True)
        production = rules.names(service)["production"]
        dk.wait_for(
            "Traefik dropping the release's rules",
            lambda: self.traefik.get(f"/api/http/routers/{production}@file") is None,
            self.wait,
        )

    # -- replicas ---------------------------------------------------------------------

    def replicas(self) -> tuple[st.Replica, ...]:
        """Return the service's running replicas as Traefik reaches them."""
        port = self.service_labels().port
        boxes = dk.running(self.project, self.release.service)
        return tuple(dk.replica(b, self.traefik.network_names, port) for b in boxes)

    def start_green(self) -> None:
        """Start as many green replicas as blue has, from the new image, and wait for health."""
        r = self.release
        blue_ids = {x.id for x in r.blue}
        template = next(b for b in dk.running(self.project, r.service) if b["Id"] in blue_ids)
        override = {"services": {r.service: {"image": r.image}}}
        write_atomically(self.paths.override, json.dumps(override))
        words, env = dk.compose_command(template, self.paths.override)
        # --no-recreate keeps blue as it is; only the new replicas get the override's image.
        dk.docker(
            *words,
            "up",
            "--detach",
            "--no-recreate",
            "--no-deps",
            "--no-build",
            "--pull",
            "never",
            "--scale",
            f"{r.service}={2 * len(r.blue)}",
            r.service,
            timeout=self.wait,
            env=env,
        )
        green = tuple(x for x in self.replicas() if x.id not in blue_ids)
        self.save(replace(r, green=green))
        self.say(f"started {len(green)} green replicas from {r.image}: {names_of(green)}")
        dk.wait_for(
            f"green replicas of {r.service} becoming healthy",
            lambda: all(dk.health(b) == "healthy" for b in dk.inspect([x.id for x in green])),
            self.wait,
        )
        self.say("green is healthy; production traffic still goes to blue only")

    def stop(self, replicas: tuple[st.Replica, ...]) -> None:
        """Stop (SIGTERM: drain, then exit within the stop timeout) and remove replicas."""
        ids = dk.existing([x.id for x in replicas])
        if ids:
            # One `docker stop` for all: the engine stops them in parallel, each drains.
            dk.docker("stop", *ids, timeout=self.wait)
            dk.docker("rm", "--force", *ids, timeout=self.wait)

    # -- the stages -------------------------------------------------------------------

    def drive(self) -> st.Release:
        """Run the release from its current stage to SUCCESSFUL or a finished rollback."""
        self.save(replace(self.release, controller_pid=os.getpid()))
        while self.release.active:
            self.take_request()
            r = self.release
            if r.status == st.ROLLBACK_IN_PROGRESS:
                self.roll_back()
            elif r.paused:
                self.await_approval()
            else:
                self.run_stage()
                if self.release.status == st.IN_PROGRESS and not self.release.paused:
                    self.save(st.advance(self.release))
                    self.announce()
        return self.release

    def await_approval(self) -> None:
        """Wait for approve or rollback; roll back when nobody answers in time."""
        if self.hold(self.approval_timeout, until_approved=True):
            return
        if self.release.paused:
            reason = f"nobody approved within {self.approval_timeout:.0f} s"
            self.save(st.rollback(self.release, reason))

    def announce(self) -> None:
        """Say where the release is after a transition."""
        r = self.release
        if r.status == st.SUCCESSFUL:
            self.say(f"SUCCESSFUL: {r.service} runs {r.image} on {names_of(r.green)}")
        elif r.paused:
            self.say(
                f"waiting for approval: try green with the header '{rules.TEST_HEADER}: "
                f"{rules.TEST_VALUE}', then `{PROG} approve {r.service}` "
                f"or `{PROG} rollback {r.service}`"
            )

    def run_stage(self) -> None:
        """Do the work of the current stage (each stage can be run again after a crash)."""
        stage = self.release.stage
        if stage == "PRE_SCALE_UP":
            self.pin_blue()
        elif stage == "SCALE_UP":
            self.start_green()
        elif stage == "TEST_TRAFFIC_SHIFT":
            self.apply(self.routing())
            self.say(f"test traffic ({rules.TEST_HEADER}: {rules.TEST_VALUE}) reaches green only")
        elif stage == "PRODUCTION_TRAFFIC_SHIFT":
            self.shift_production()
        elif stage == "BAKE_TIME":
            self.bake()
        elif stage == "CLEAN_UP":
            self.clean_up()

    def pin_blue(self) -> None:
        """Record blue and route production to exactly those replicas."""
        if not self.release.blue:
            self.save(replace(self.release, blue=self.replicas()))
        self.apply(self.routing())
        self.say(f"production traffic pinned to blue: {names_of(self.release.blue)}")

    def shift_production(self) -> None:
        """Move production traffic to green through the weight steps, pausing between them."""
        for weight in self.release.steps:
            if weight <= self.release.green_weight and weight != self.release.steps[-1]:
                continue
            self.save(st.shift(self.release, weight))
            self.apply(self.routing())
            self.say(f"production traffic: green {weight}%, blue {rules.FULL - weight}%")
            if weight != self.release.steps[-1] and self.hold(self.release.step_seconds):
                return

    def bake(self) -> None:
        """Keep blue running for the bake time, ready to take everything back."""
        seconds = self.release.bake_seconds
        self.say(f"baking {seconds:.0f} s with blue still running (rollback is instant)")
        self.hold(seconds)

    def hold(self, seconds: float, until_approved: bool = False) -> bool:
        """Wait, taking requests; return True when a rollback (or approval) cut it short."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.take_request()
            if self.release.status == st.ROLLBACK_IN_PROGRESS:
                return True
            if until_approved and not self.release.paused:
                return True
            time.sleep(min(POLL, max(0.0, deadline - time.monotonic())))
        return False

    def clean_up(self) -> None:
        """Drain and remove blue, then give routing back to the Docker router (green only)."""
        r = self.release
        self.apply(self.routing(blue=False))
        self.say(f"draining and stopping blue: {names_of(r.blue)}")
        self.stop(r.blue)
        self.remove_rules(r.green)
        self.paths.override.unlink(missing_ok=True)

    def roll_back(self) -> None:
        """Send everything back to blue at once, remove green, hand routing back."""
        r = self.release
        self.say(f"rolling back ({r.reason}): all traffic to blue")
        try:
            self.apply(self.routing())
            green = r.green or tuple(
                x for x in self.replicas() if x.id not in {b.id for b in r.blue}
            )
            self.say(f"stopping green: {names_of(green)}")
            self.stop(green)
            self.remove_rules(r.blue)
            self.paths.override.unlink(missing_ok=True)
        except LocalError:
            self.save(st.finish_rollback(self.release, ok=False))
            raise
        self.save(st.finish_rollback(self.release))
        self.say(f"ROLLBACK_SUCCESSFUL: {r.service} runs the previous image on {names_of(r.blue)}")

    def take_request(self) -> None:
        """Apply an approve/rollback request left by another command, if any."""
        try:
            asked = self.paths.request.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return
        self.paths.request.unlink(missing_ok=True)
        try:
            if asked == "approve":
                self.save(st.approve(self.release))
                self.say("approved: production traffic moves to green")
            elif asked == "rollback":
                self.save(st.rollback(self.release, "asked for"))
        except st.TransitionError as err:
            self.say(f"ignored {asked}: {err}")


def names_of(replicas: Sequence[st.Replica]) -> str:
    """Return the replicas' container names for a progress line."""
    return ", ".join(x.name for x in replicas) or "none"


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
    controller = Controller(args.project, release, wait=args.wait)
    refuse_if_busy(controller.paths, args.service)
    blue = controller.replicas()
    if not blue:
        raise RefusedError(f"the stack is not up: no running {args.service} in {args.project!r}")
    unhealthy = [
        b["Name"].lstrip("/")
        for b in dk.running(args.project, args.service)
        if dk.health(b) != "healthy"
    ]
    if unhealthy:
        raise RefusedError(
            f"{args.service} has replicas that are not healthy: {', '.join(unhealthy)}"
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
    if not dk.image_exists(args.image):
        raise RefusedError(
            f"image {args.image!r} does not exist on this Docker engine (build or pull it first)"
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
