"""Traffic-shifting releases: ECS's BLUE_GREEN, LINEAR and CANARY, on compose and Traefik.

The three differ only in how production moves (each subclass's `shifts_for`); this module is
the release they share:

1. PRE_SCALE_UP: production traffic is pinned to the current (blue) replicas by a file rule
   that shadows the service's Docker router, so whatever joins `S@docker` later gets none.
2. SCALE_UP: green replicas start from the new image beside blue, as replicas of the same
   compose service (the ECS service's new revision); the release waits until they're healthy.
3. TEST_TRAFFIC_SHIFT: requests with `X-Bookingapp-Test: green` reach green only.
4. POST_TEST_TRAFFIC_SHIFT: with `approval`, the release pauses until `approve` (or
   `rollback`) from another terminal.
5. PRODUCTION_TRAFFIC_SHIFT: production moves to green in the release's `Shift`s, each held
   for its own bake (blue/green: one shift to 100 %; linear: equal steps; canary: the
   canary share, then the rest).
6. BAKE_TIME: blue keeps running `bake_time_minutes`, so `rollback` is still instant.
7. CLEAN_UP: blue is drained (SIGTERM: the app fails its health check and keeps serving its
   drain period) and removed; then the file rules go and `S@docker` (green only) serves.

The rollback alarms (an unhealthy or stopped green replica; green's 5xx) are watched at every
pause: approval, each shift's bake, the deployment bake. `rollback` before CLEAN_UP sends
everything back to blue at once and removes green. The release process drives the stages;
`approve`/`rollback` ask it through the store, or take over when it is gone.
Exit codes: 0 done, 1 the release failed or rolled back, 2 refused, 130 interrupted.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, ClassVar

from bookingapp_infra.errors import InfraError, InputError
from bookingapp_infra.local import PROG, docker, traefik
from bookingapp_infra.local.docker import Replica
from bookingapp_infra.local.strategies import routing, store
from bookingapp_infra.local.strategies import state as st
from bookingapp_infra.local.strategies.state import FULL, Shift, Stage, Status
from bookingapp_infra.local.strategies.strategy import Overrides, Say, Strategy, flag
from bookingapp_infra.local.traefik import Traefik
from bookingapp_infra.local.wait import STEP_TIMEOUT, poll, wait_until
from bookingapp_infra.params import (
    CANARY_PERCENT_RANGE,
    STEP_PERCENT_RANGE,
    ServiceParams,
    canary_weights,
    check_bake_time_minutes,
    check_deployment,
    check_percent,
    linear_weights,
)

POLL = 0.5  # seconds between looks at requests and alarms while the release holds
# The 5xx rollback alarm of service.yaml: more than 5 server errors from green in a minute.
ERROR_LIMIT = 5
ERROR_WINDOW = 60.0
# service.yaml's UnhealthyThresholdCount: the target group calls a target unhealthy after 3
# failed health checks in a row. Docker says "unhealthy" after compose's 2 (retries: short, for
# the drain), so the alarm waits for Docker's failing streak to reach 3: two slow checks while
# the host is busy are not a broken revision, a green that keeps failing is caught one check on.
UNHEALTHY_THRESHOLD = 3


class Interrupted(InfraError):
    """Ctrl-C while a release runs: it stays where it is, and says how to go on."""

    exit_code = 130


@dataclass(frozen=True)
class TrafficShift(Strategy):
    """Green beside blue, test traffic, approval, production in shifts, bake, clean up.

    A subclass names the strategy, the options it reads besides these, and its shifts
    (`shifts_for`): the release is the same.
    """

    options: ClassVar[frozenset[str]] = frozenset(
        {"bake_time_minutes", "approval", "approval_timeout"}
    )
    service: str
    shifts: tuple[Shift, ...]
    bake_seconds: float
    approval: bool
    approval_timeout: float

    @classmethod
    def shifts_for(cls, params: ServiceParams, overrides: Overrides) -> tuple[Shift, ...]:
        """Return how production moves to green, from the params and the options."""
        raise NotImplementedError

    @classmethod
    def configure(cls, params: ServiceParams, overrides: Overrides) -> TrafficShift:
        """Read bake time and approval from [deployment], the options overriding them."""
        d = params.deployment
        approval = d.approval if overrides.approval is None else overrides.approval
        deployment = replace(d, strategy=cls.name, approval=approval)
        check_deployment(f"{params.name}.toml", replace(params, deployment=deployment))
        timeout = overrides.approval_timeout
        return cls(
            service=params.name,
            shifts=cls.shifts_for(params, overrides),
            bake_seconds=held_seconds(overrides.bake_time_minutes, d.bake_time_minutes),
            approval=approval,
            approval_timeout=st.APPROVAL_TIMEOUT if timeout is None else timeout,
        )

    def release(self, project: str, image: str, timeout: float, say: Say) -> None:
        """Run the release in the foreground; fail unless green serves everything."""
        blue = docker.require_up(project, self.service)
        unhealthy = [r.name for r in blue if r.health not in ("healthy", None)]
        if unhealthy:
            raise InputError(
                f"{self.service} has replicas that are not healthy: {', '.join(unhealthy)}"
            )
        release = st.Release(
            service=self.service,
            image=image,
            project=project,
            bake_seconds=self.bake_seconds,
            approval=self.approval,
            strategy=self.name,
            shifts=self.shifts,
            approval_timeout=self.approval_timeout,
            controller_pid=os.getpid(),
        )
        controller = Controller(project, release, say, wait=timeout)
        controller.save(release)
        steps = ", ".join(f"{s.weight:g}%" for s in self.shifts)
        say(
            f"{self.service}: {self.name} release of {image} in {project} "
            f"(bake {self.bake_seconds:.0f} s, approval {'on' if self.approval else 'off'}, "
            f"production steps {steps})"
        )
        run(controller)


@dataclass(frozen=True)
class Gradual(TrafficShift):
    """A traffic shift in steps from a share of production: ECS's LINEAR and CANARY.

    The two differ only in data, each named as its [deployment] key (and its option): the
    share (`share`, within ECS's `allowed` range), how long each step but the last is held
    (`held`), and the weights a share gives (`steps`: p, 2p, ... 100; or c, 100).
    """

    share: ClassVar[str]
    held: ClassVar[str]
    allowed: ClassVar[tuple[float, float]]

    @staticmethod
    def steps(share: float, /) -> tuple[float, ...]:
        """Return green's production weight after each step, for this share."""
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs: object) -> None:
        """Give each gradual strategy its two options beside the shared ones."""
        super().__init_subclass__(**kwargs)
        cls.options = TrafficShift.options | {cls.share, cls.held}

    @classmethod
    def shifts_for(cls, params: ServiceParams, overrides: Overrides) -> tuple[Shift, ...]:
        """Return the share's steps, each but the last held: the toml's, or the options'."""
        d = params.deployment
        share = given_percent(
            getattr(overrides, cls.share), getattr(d, cls.share), cls.share, cls.allowed
        )
        hold = held_seconds(getattr(overrides, cls.held), getattr(d, cls.held), cls.held)
        return tuple(Shift(w, 0.0 if w == FULL else hold) for w in cls.steps(share))


def gradual(
    name: str,
    share: str,
    held: str,
    allowed: tuple[float, float],
    steps: Callable[[float], tuple[float, ...]],
    doc: str,
) -> type[Gradual]:
    """Declare one gradual strategy from its data: a `Gradual` named as params names it."""
    body = {
        "name": name,
        "share": share,
        "held": held,
        "allowed": allowed,
        "steps": staticmethod(steps),
        "__doc__": doc,
        "__module__": __name__,
    }
    return dataclass(frozen=True)(type(name.title().replace("_", ""), (Gradual,), body))


# ECS's LINEAR: `step_percent` at a time (within STEP_PERCENT_RANGE), each step held
# `step_bake_time_minutes` with the rollback alarms watched, the last (to 100 %) not held.
Linear = gradual(
    "linear",
    share="step_percent",
    held="step_bake_time_minutes",
    allowed=STEP_PERCENT_RANGE,
    steps=linear_weights,
    doc="ECS's LINEAR: step_percent, 2 x step_percent, ... 100 %, each step but the last held.",
)
# ECS's CANARY: `canary_percent` (within CANARY_PERCENT_RANGE) for
# `canary_bake_time_minutes` with the rollback alarms watched, then 100 %.
Canary = gradual(
    "canary",
    share="canary_percent",
    held="canary_bake_time_minutes",
    allowed=CANARY_PERCENT_RANGE,
    steps=canary_weights,
    doc="ECS's CANARY: canary_percent, held canary_bake_time_minutes, then 100 %.",
)


def held_seconds(given: float | None, configured: int, key: str = "bake_time_minutes") -> float:
    """Return a bake time in seconds: the option's minutes if given, else the toml's.

    The option is held to ECS's range too; fractions of a minute are allowed there, for
    trying a release out (the toml takes whole minutes, as ECS does).
    """
    if given is None:
        return 60.0 * configured
    check_bake_time_minutes(flag(key), given, key)
    return 60.0 * given


def given_percent(
    given: float | None, configured: float, key: str, allowed: tuple[float, float]
) -> float:
    """Return a production share: the option's if given (held to ECS's range), else the toml's."""
    if given is None:
        return configured
    check_percent(flag(key), key, given, allowed)
    return given


class Controller:
    """Drives one release through its stages on one compose project, saying what it does."""

    def __init__(
        self, project: str, release: st.Release, say: Say, wait: float = STEP_TIMEOUT
    ) -> None:
        self.project = project
        self.release = release
        self.print = say
        self.wait = wait
        self.paths = store.Paths.under(traefik.rules_dir(project), release.service)
        self.traefik = Traefik.of(project)
        self.labels: tuple[traefik.Listener, traefik.HealthCheck] | None = None
        self.errors: deque[tuple[float, int]] = deque()  # (when, green's 5xx so far), a window
        self.began = time.monotonic()

    def say(self, message: str = "") -> None:
        """Print one progress line: service, stage, seconds since this command began."""
        r = self.release
        where = r.stage if r.status == Status.IN_PROGRESS else r.status
        elapsed = time.monotonic() - self.began
        self.print(f"{r.service}: {where} [{elapsed:.1f} s]" + (f": {message}" if message else ""))

    def save(self, release: st.Release) -> None:
        """Keep the new state in memory and on disk."""
        self.release = release
        store.save(self.paths, release)

    # -- the routing Traefik should have now ------------------------------------------

    def wanted(self, blue: bool = True) -> routing.Routing:
        """Return the rules for the current state (blue=False once blue is being removed)."""
        r = self.release
        if self.labels is None:
            self.labels = traefik.listener(docker.require_up(self.project, r.service)[0])
        listener, health = self.labels
        rolling_back = r.status == Status.ROLLBACK_IN_PROGRESS
        return routing.Routing(
            service=r.service,
            listener=listener,
            health=health,
            blue=tuple(traefik.server_url(x) for x in r.blue) if blue else (),
            green=() if rolling_back else tuple(traefik.server_url(x) for x in r.green),
            green_weight=r.green_weight,
            test=r.test_traffic and not rolling_back,
        )

    def apply(self, rules: routing.Routing) -> None:
        """Write the rules and wait until Traefik routes by them, with every target UP."""
        store.write_atomically(self.paths.rules, routing.dump(routing.render(rules), rules.service))
        wait_until(
            lambda: self.applied(rules),
            self.wait,
            f"Traefik did not apply the new listener rules within {self.wait:.0f} s",
            every=0.25,
        )

    def applied(self, rules: routing.Routing) -> bool:
        """Say whether Traefik's API shows exactly these rules and their targets UP."""
        n = routing.names(rules.service)
        if not self.traefik.router_enabled(n["production"]):
            return False
        if self.traefik.weights(n["production"]) != routing.weights(rules):
            return False
        if self.traefik.router_enabled(n["test"]) != rules.test:
            return False
        groups = (("blue", rules.blue), ("green", rules.green))
        return all(self.servers_up(n[c], urls, "file") for c, urls in groups if urls)

    def servers_up(self, service: str, urls: tuple[str, ...], provider: str) -> bool:
        """Say whether a Traefik service has exactly these servers, all UP."""
        shown = self.traefik.pool(service, provider)
        return set(shown) == set(urls) and all(v == traefik.UP for v in shown.values())

    def remove_rules(self, survivors: tuple[Replica, ...]) -> None:
        """Hand routing back to the Docker router once `S@docker` is exactly the survivors."""
        service = self.release.service
        urls = tuple(traefik.server_url(x) for x in survivors)
        wait_until(
            lambda: self.servers_up(service, urls, "docker"),
            self.wait,
            f"Traefik's {service}@docker pool did not become exactly the remaining replicas "
            f"within {self.wait:.0f} s",
            every=0.25,
        )
        self.paths.rules.unlink(missing_ok=True)
        production = routing.names(service)["production"]
        wait_until(
            lambda: self.traefik.http("routers", f"{production}@file") is None,
            self.wait,
            f"Traefik did not drop the release's rules within {self.wait:.0f} s",
            every=0.25,
        )

    # -- the stages -------------------------------------------------------------------

    def drive(self) -> st.Release:
        """Run the release from its current stage to SUCCESSFUL or a finished rollback."""
        self.save(replace(self.release, controller_pid=os.getpid()))
        self.say()
        while self.release.active:
            self.take_request()
            r = self.release
            if r.status == Status.ROLLBACK_IN_PROGRESS:
                self.roll_back()
            elif r.paused:
                self.await_approval()
            else:
                work = self.WORK.get(r.stage)
                if work is not None:
                    work(self)
                if self.release.status == Status.IN_PROGRESS and not self.release.paused:
                    self.save(st.advance(self.release))
                    self.announce()
        return self.release

    def pin_blue(self) -> None:
        """PRE_SCALE_UP: record blue and route production to exactly those replicas."""
        if not self.release.blue:
            blue = tuple(docker.replicas(self.project, self.release.service))
            self.save(replace(self.release, blue=blue))
        self.apply(self.wanted())
        self.say(f"production traffic pinned to blue: {names(self.release.blue)}")

    def start_green(self) -> None:
        """SCALE_UP: as many green replicas as blue has, from the new image, and healthy."""
        r = self.release
        blue_ids = {x.id for x in r.blue}
        # Replicas of the same compose service (files, network, alias, labels); run again
        # after a crash, it only adds what is missing. The release label, named after blue,
        # tells the autoscaler a release is under way.
        label = f"{r.service}-green-of-{min(blue_ids)[:12]}"
        docker.scale(self.project, r.service, 2 * len(r.blue), r.image, label, timeout=self.wait)
        green = tuple(x for x in docker.replicas(self.project, r.service) if x.id not in blue_ids)
        self.save(replace(r, green=green))
        self.say(f"started {len(green)} green replicas from {r.image}: {names(green)}")
        ready = docker.wait_healthy([x.id for x in green], timeout=self.wait)
        self.save(replace(self.release, green=tuple(ready)))
        self.say("green is healthy; production traffic still goes to blue only")

    def open_test_traffic(self) -> None:
        """TEST_TRAFFIC_SHIFT: the test rule sends header-carrying requests to green."""
        self.apply(self.wanted())
        self.say(f"test traffic ({routing.TEST_HEADER}: {routing.TEST_VALUE}) reaches green only")

    def shift_production(self) -> None:
        """PRODUCTION_TRAFFIC_SHIFT: move production to green shift by shift, holding each."""
        last = self.release.shifts[-1]
        for step in self.release.shifts:
            if step.weight <= self.release.green_weight and step != last:
                continue  # taken before a crash: go on from where it was
            self.save(st.shift(self.release, step.weight))
            self.apply(self.wanted())
            self.say(f"production traffic: green {step.weight:g}%, blue {FULL - step.weight:g}%")
            if step.bake_seconds and self.hold(step.bake_seconds):
                return

    def bake(self) -> None:
        """BAKE_TIME: keep blue running for the bake time, ready to take everything back."""
        seconds = self.release.bake_seconds
        self.say(f"baking {seconds:.0f} s with blue still running (rollback is instant)")
        self.hold(seconds)

    def clean_up(self) -> None:
        """CLEAN_UP: drain and remove blue, then give routing back to the Docker router."""
        r = self.release
        self.apply(self.wanted(blue=False))
        self.say(f"draining and stopping blue: {names(r.blue)}")
        docker.stop(r.blue)
        self.remove_rules(r.green)

    # The work of each stage; the others (POST_*) only mark the way, as ECS's hooks do.
    WORK: ClassVar[Mapping[Stage, Callable[[Controller], None]]] = {
        Stage.PRE_SCALE_UP: pin_blue,
        Stage.SCALE_UP: start_green,
        Stage.TEST_TRAFFIC_SHIFT: open_test_traffic,
        Stage.PRODUCTION_TRAFFIC_SHIFT: shift_production,
        Stage.BAKE_TIME: bake,
        Stage.CLEAN_UP: clean_up,
    }

    def announce(self) -> None:
        """Say where the release is after a transition."""
        r = self.release
        if r.status == Status.SUCCESSFUL:
            self.say(f"{r.service} runs {r.image} on {names(r.green)}")
            return
        self.say()
        if r.paused:
            self.say(
                f"waiting for approval: try green with the header '{routing.TEST_HEADER}: "
                f"{routing.TEST_VALUE}', then `{PROG} approve {r.service}` "
                f"or `{PROG} rollback {r.service}`"
            )

    def await_approval(self) -> None:
        """Wait for approve or rollback; roll back when nobody answers in time."""
        timeout = self.release.approval_timeout
        if self.hold(timeout, until_approved=True):
            return
        if self.release.paused:
            self.save(st.rollback(self.release, f"nobody approved within {timeout:.0f} s"))

    def hold(self, seconds: float, until_approved: bool = False) -> bool:
        """Wait, taking requests and watching the alarms; True if a rollback or approval ends it."""

        def ended() -> bool:
            self.take_request()
            if self.release.status == Status.IN_PROGRESS and (reason := self.alarm()):
                self.save(st.rollback(self.release, reason))
            if self.release.status == Status.ROLLBACK_IN_PROGRESS:
                return True
            return until_approved and not self.release.paused

        return bool(poll(ended, seconds, POLL))

    def alarm(self) -> str | None:
        """Say why green fails one of the release's rollback alarms, or None while it passes.

        On AWS a CloudWatch alarm on the green target group's UnHealthyHostCount rolls the
        deployment back (service.yaml); here Docker's health checks of each green replica
        stand in for the target health check (replica_alarm). Then the 5xx alarm (error_alarm).
        """
        green = self.release.green
        found = {c["Id"]: c["State"] for c in docker.inspect([x.id for x in green])}
        for replica in green:
            if reason := replica_alarm(replica.name, found.get(replica.id, {})):
                return reason
        return self.error_alarm() if green else None

    def error_alarm(self) -> str | None:
        """Say whether green answered more than ERROR_LIMIT 5xx within ERROR_WINDOW seconds.

        The twin of the HTTPCode_Target_5XX_Count alarm on the green target group
        (service.yaml: more than 5 a minute), read from Traefik's counter for `S-green`,
        test traffic included as on AWS. It fires as soon as one window holds too many,
        where CloudWatch waits for 2 of 3 one-minute datapoints.
        """
        count = self.traefik.server_errors(routing.names(self.release.service)["green"])
        if count is None:
            return None  # a stack without Traefik's metrics: nothing to read (docs/releases.md)
        now = time.monotonic()
        self.errors.append((now, count))
        while self.errors[0][0] < now - ERROR_WINDOW:
            self.errors.popleft()
        errors = count - self.errors[0][1]
        if errors > ERROR_LIMIT:
            return f"alarm: green answered {errors} 5xx within {ERROR_WINDOW:.0f} s"
        return None

    def roll_back(self) -> None:
        """Send everything back to blue at once, remove green, hand routing back."""
        r = self.release
        self.say(f"rolling back ({r.reason}): all traffic to blue")
        if not r.blue:  # failed before blue was recorded: nothing was started or routed
            self.paths.rules.unlink(missing_ok=True)
            self.save(st.finish_rollback(r))
            return
        try:
            self.apply(self.wanted())
            blue = {b.id for b in r.blue}
            green = r.green or tuple(
                x for x in docker.replicas(self.project, r.service) if x.id not in blue
            )
            self.say(f"stopping green: {names(green)}")
            docker.stop(green)
            self.remove_rules(r.blue)
        except InfraError:
            self.save(st.finish_rollback(self.release, ok=False))
            raise
        self.save(st.finish_rollback(self.release))
        self.say(f"{r.service} runs the previous image on {names(r.blue)}")

    def take_request(self) -> None:
        """Apply an approve/rollback request left by another command, if any."""
        asked = store.take_request(self.paths)
        try:
            if asked == "approve":
                self.save(st.approve(self.release))
                self.say("approved: production traffic moves to green")
            elif asked == "rollback":
                self.save(st.rollback(self.release, "asked for"))
        except st.TransitionError as err:
            self.say(f"ignored {asked}: {err}")


def replica_alarm(name: str, state: Mapping[str, Any]) -> str | None:
    """Say why one green replica fails the unhealthy-hosts alarm, from its inspected State."""
    if not state.get("Running"):
        return f"alarm: green replica {name} is not running"
    health = state.get("Health") or {}
    streak = health.get("FailingStreak", 0)
    if health.get("Status") == "unhealthy" and streak >= UNHEALTHY_THRESHOLD:
        return f"alarm: green replica {name} is unhealthy ({streak} failed health checks in a row)"
    return None


def run(controller: Controller) -> None:
    """Drive the release; a failure before CLEAN_UP rolls back; fail unless it succeeded."""
    try:
        try:
            final = controller.drive()
        except InfraError as err:
            r = controller.release
            controller.print(f"{r.service}: {r.stage}: failed: {err}")
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
    if final.status != Status.SUCCESSFUL:
        raise InfraError(f"{final.service}: {final.status} ({final.reason})")


# -- the commands that act on a release in progress ---------------------------------------


def refuse_if_busy(project: str, service: str) -> None:
    """Refuse a second release of a service while a traffic-shifting one is in progress."""
    try:
        rules = traefik.rules_dir(project)
    except InputError:
        return  # no rules directory: no such release runs here (one would say so as it starts)
    current = store.load(store.Paths.under(rules, service))
    if current and current.active:
        owner = (
            f"driven by pid {current.controller_pid}"
            if store.alive(current.controller_pid)
            else "its controller is gone"
        )
        raise InputError(
            f"a release of {service} is already in progress ({current.status} {current.stage}, "
            f"{owner}): see `{PROG} status {service}`, or `{PROG} rollback {service}`"
        )


def _in_progress(project: str, service: str, say: Say, wait: float) -> Controller:
    """Return a controller for the service's release in progress, or refuse."""
    current = store.load(store.Paths.under(traefik.rules_dir(project), service))
    if current is None or not current.active:
        raise InputError(f"no release of {service} is in progress in {project!r}")
    return Controller(project, current, say, wait=wait)


def _reload(paths: store.Paths) -> st.Release:
    """Read the release's state again from disk."""
    current = store.load(paths)
    if current is None:
        raise InfraError("the release's state file disappeared")
    return current


def _ask(project: str, service: str, asked: str, timeout: float, say: Say) -> Controller | None:
    """Leave a request for the release's controller; None when it is gone, so do it here."""
    controller = _in_progress(project, service, say, timeout)
    current = controller.release
    transition = st.approve if asked == "approve" else partial(st.rollback, reason="asked for")
    try:
        taken = transition(current)
    except st.TransitionError as err:
        raise InputError(str(err)) from None
    if store.alive(current.controller_pid):
        store.ask(controller.paths, asked)
        return None
    doing = "continuing it" if asked == "approve" else "rolling back"
    say(f"{service}: the release's controller is gone; {doing} here")
    controller.save(taken)
    return controller


def approve(project: str, service: str, timeout: float, say: Say) -> None:
    """Let a paused release move production traffic to green (or continue it here)."""
    controller = _ask(project, service, "approve", timeout, say)
    if controller is not None:
        run(controller)
        return
    paths = store.Paths.under(traefik.rules_dir(project), service)
    wait_until(
        lambda: not _reload(paths).paused,
        timeout,
        f"the release did not take the approval within {timeout:.0f} s",
    )
    say(f"{service}: approved; the release moves production traffic to green")


def rollback(project: str, service: str, timeout: float, say: Say) -> None:
    """Send all traffic back to blue and remove green; fail unless that is done."""
    controller = _ask(project, service, "rollback", timeout, say)
    paths = store.Paths.under(traefik.rules_dir(project), service)
    if controller is not None:
        controller.drive()
    else:
        wait_until(
            lambda: not _reload(paths).active,
            3 * timeout,
            f"the release did not finish rolling back within {3 * timeout:.0f} s",
        )
    final = _reload(paths)
    if final.status != Status.ROLLBACK_SUCCESSFUL:
        raise InfraError(f"{service}: {final.status}")
    say(f"{service}: {final.status}: all traffic on blue ({names(final.blue)})")


def recorded(project: str, service: str) -> st.Release | None:
    """Return the service's last traffic-shifting release in the project, if any."""
    return store.load(store.Paths.under(traefik.rules_dir(project), service))


def names(replicas: tuple[Replica, ...] | list[Replica]) -> str:
    """Return the replicas' container names for a progress line."""
    return ", ".join(x.name for x in replicas) or "none"
