"""The scaler: each app's target tracking policy acted out on the compose stack.

It runs on the host beside a stack that is up, through the docker CLI only (docker.py), so it
works wherever `docker` works and needs no container holding a writable Docker socket. Every
sample it reads each replica's CPU with `docker stats` relative to the replica's compose CPU
limit (as ECS reads a task's CPU relative to its reservation), averages the service's
replicas into datapoints of one period, and lets policy.decide() say what target tracking
would do. A decision is carried out by docker.ScaleJob (`docker compose up --no-recreate
--scale`, the command releases use too); a scale-in stops replicas with SIGTERM, which the
apps answer by draining. A scaling activity is complete only when compose is done and every
running replica is UP in Traefik's pool: new replicas count as capacity once the load
balancer routes to them, and the cooldown starts then.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from bookingapp_infra.errors import InfraError, InputError
from bookingapp_infra.local import docker
from bookingapp_infra.local.autoscale.policy import (
    RELEASE_IN_PROGRESS,
    Decision,
    History,
    MetricSeries,
    Policy,
    TimingOverrides,
    decide,
)
from bookingapp_infra.local.docker import Replica, ScaleJob
from bookingapp_infra.local.service_lock import AUTOSCALER, ServiceLock
from bookingapp_infra.local.traefik import Traefik, is_up, lb_service
from bookingapp_infra.local.wait import STEP_TIMEOUT, poll
from bookingapp_infra.params import load_all

# How often CPU is sampled; several samples make one datapoint of the default 60 s period.
DEFAULT_SAMPLE_INTERVAL = 5.0


def parse_percent(text: str) -> float:
    """Turn docker stats' "12.34%" into 12.34 ("--" for a stopping container is 0)."""
    text = text.strip().rstrip("%")
    return float(text) if text and text != "--" else 0.0


class Job(Protocol):
    """A scaling command in flight (docker.ScaleJob, or a test's stand-in)."""

    def poll(self) -> str | None:
        """Return None while it runs, "" when it succeeded, else what went wrong."""
        ...

    def close(self) -> None:
        """Forget its files."""
        ...


class ComposeStack:
    """The compose project on this host: its replicas, their CPU, Traefik's pool, scaling."""

    def __init__(self, project: str) -> None:
        self.project = project
        self.traefik: Traefik | None = None
        self._limits: dict[str, float] = {}

    def replicas(self) -> dict[str, list[Replica]]:
        """Return the project's running replicas by compose service; refuse if none run."""
        found = docker.replicas(self.project)
        if not found:
            raise InputError(
                f"project {self.project!r} is not up: start the stack first "
                f"(docker compose -p {self.project} up -d), or name it with --project"
            )
        grouped: dict[str, list[Replica]] = {}
        for replica in found:
            grouped.setdefault(replica.service, []).append(replica)
        return grouped

    def cpu(self, replicas: list[Replica]) -> dict[str, float]:
        """Return each replica's CPU use in percent of its CPU limit, by container id."""
        limits = self.limits(replicas)
        if not limits:
            return {}
        result = docker.run(
            ["stats", "--no-stream", "--no-trunc", "--format", "{{json .}}", *limits]
        )
        found = {}
        for row in map(json.loads, result.stdout.splitlines()):
            # docker stats says 100 % for one whole CPU; ECS's metric is relative to the
            # task's reservation, here the compose limit (0.5 CPU busy at 50 % is 100 %).
            if row.get("ID") in limits:
                found[row["ID"]] = parse_percent(row["CPUPerc"]) / limits[row["ID"]]
        return found  # a replica that stopped mid-sample (a scale-in) is simply missing

    def limits(self, replicas: list[Replica]) -> dict[str, float]:
        """Return each replica's CPU limit in CPUs (compose's limits.cpus), by container id."""
        unknown = [r.id for r in replicas if r.id not in self._limits]
        if unknown:
            result = docker.run(
                ["inspect", "--format", "{{.Id}} {{.HostConfig.NanoCpus}}", *unknown]
            )
            for line in result.stdout.splitlines():
                container, nano = line.split()
                # Without a limit a container may use every CPU there is: that is its capacity.
                self._limits[container] = (
                    int(nano) / 1e9 if int(nano) else float(os.cpu_count() or 1)
                )
        return {r.id: self._limits[r.id] for r in replicas if r.id in self._limits}

    def in_pool(self, replicas: list[Replica]) -> int:
        """Return how many of these replicas Traefik has UP in its pool."""
        if not replicas:
            return 0
        if self.traefik is None:
            self.traefik = Traefik.of(self.project)
        pool = self.traefik.pool(lb_service(replicas[0]))
        return sum(1 for r in replicas if is_up(pool, r))

    def scale(self, replicas: list[Replica], service: str, count: int) -> Job | None:
        """Start setting the replica count; those removed get SIGTERM, hence the drain.

        None when a release holds the service (service_lock): then the count is its to set.
        """
        lock = ServiceLock(self.project, service)
        if not lock.try_acquire(f"bookingapp-local autoscale, scaling to {count} replicas"):
            return None
        try:
            return LockedJob(ScaleJob(replicas[0], count), lock)
        except BaseException:
            lock.release()
            raise


@dataclass
class LockedJob:
    """A scaling job that holds the service's lock until it is closed."""

    job: ScaleJob
    lock: ServiceLock

    def poll(self) -> str | None:
        """Return what the compose command says (see Job.poll)."""
        return self.job.poll()

    def close(self) -> None:
        """Forget the command's files and let go of the service."""
        try:
            self.job.close()
        finally:
            self.lock.release()


class Stack(Protocol):
    """What the scaler needs of the stack (ComposeStack, or a test's stand-in)."""

    def replicas(self) -> dict[str, list[Replica]]:
        """Return the running replicas by service."""
        ...

    def cpu(self, replicas: list[Replica]) -> dict[str, float]:
        """Return each replica's CPU in percent of its limit."""
        ...

    def in_pool(self, replicas: list[Replica]) -> int:
        """Return how many of them Traefik has UP."""
        ...

    def scale(self, replicas: list[Replica], service: str, count: int) -> Job | None:
        """Start scaling the service to `count`; None if a release holds the service."""
        ...


def releasing(replicas: list[Replica]) -> bool:
    """Say whether a service is mid-release: its replicas belong to more than one release.

    A release (`bookingapp-local release`) starts replicas beside the old ones, labelled
    with a new release id, and then stops the old: until it is done, two releases run, even
    of the very same image. Replicas started some other way (a `docker compose up` with a
    new TAG) are told apart by image id (a rebuilt tag) or reference (a new tag).
    """
    return len({(r.image, r.image_id, r.labels.get(docker.RELEASE, "")) for r in replicas}) > 1


@dataclass
class Activity:
    """A scaling activity in flight: the decision and the job carrying it out."""

    decision: Decision
    job: Job
    started: float


@dataclass
class ServiceState:
    """What the scaler keeps per service between samples."""

    policy: Policy
    series: MetricSeries
    history: History = field(default_factory=History)
    activity: Activity | None = None
    last_said: str = ""


class Scaler:
    """Samples the stack, evaluates each policy once per period, and carries decisions out."""

    def __init__(
        self,
        stack: Stack,
        policies: Iterable[Policy],
        sample_interval: float,
        say: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.stack = stack
        self.sample_interval = sample_interval
        self.say = say
        self.clock = clock
        self.sleep = sleep
        start = clock()
        self.states = {
            p.service: ServiceState(p, MetricSeries(p.timings.period, p.timings.history, start))
            for p in policies
        }
        self.evaluated: dict[str, int] = {}
        self.failures: list[str] = []  # scaling activities that failed, as they were reported

    def sample(self) -> dict[str, list[Replica]]:
        """Read the replicas and their CPU once; add each service's average to its series."""
        replicas = self.stack.replicas()
        watched = [r for s in self.states for r in replicas.get(s, [])]
        cpu = self.stack.cpu(watched)
        now = self.clock()
        for service, state in self.states.items():
            values = [cpu[r.id] for r in replicas.get(service, []) if r.id in cpu]
            if values:
                state.series.add(now, sum(values) / len(values))
        return replicas

    def step(self, replicas: dict[str, list[Replica]], force: bool = False) -> None:
        """Follow activities in flight and evaluate every policy whose period has ended."""
        now = self.clock()
        for service, state in self.states.items():
            mine = replicas.get(service, [])
            if state.activity is not None:
                self._follow(state, mine, now)
                continue
            # Like a CloudWatch alarm, evaluate once each time a period completes.
            completed = int((now - state.series.start) // state.policy.timings.period)
            if not force and self.evaluated.get(service) == completed:
                continue
            self.evaluated[service] = completed
            if not mine:  # compose needs a running replica to copy; a person stopped them all
                if state.last_said != "none running":
                    self.say(f"{service}: no replica runs; start it again to have it scaled")
                    state.last_said = "none running"
                continue
            points = state.series.datapoints(now)
            decision = decide(state.policy, points, len(mine), state.history, now, releasing(mine))
            self._act(state, decision, mine, now)

    def _act(
        self, state: ServiceState, decision: Decision, mine: list[Replica], now: float
    ) -> None:
        """Start the scaling a decision asks for, and print it when it says something new."""
        job = None
        if decision.changes:
            job = self.stack.scale(mine, decision.policy.service, decision.desired)
            if job is None:  # a release began before its replicas showed: it sets the count
                decision = replace(decision, desired=decision.current, reason=RELEASE_IN_PROGRESS)
        if decision.changes or decision.reason != state.last_said:
            self.say(decision.describe())
            state.last_said = decision.reason
        if job is not None:
            state.activity = Activity(decision, job, now)

    def _follow(self, state: ServiceState, mine: list[Replica], now: float) -> None:
        """Complete an activity once compose is done and Traefik's pool has the new count."""
        activity = state.activity
        if activity is None:
            return  # nothing in flight (the callers look first)
        service, desired = state.policy.service, activity.decision.desired
        outcome = activity.job.poll()
        waited = now - activity.started
        if outcome:  # nothing was scaled, so no cooldown: the next period decides afresh
            self._failed(f"{service}: scaling to {desired} failed: {outcome}")
            activity.job.close()
            state.activity = None
            return
        if outcome == "" and len(mine) == desired == self.stack.in_pool(mine):
            self.say(f"{service}: {desired} replicas, all in Traefik's pool after {waited:.0f} s")
        elif waited >= STEP_TIMEOUT:
            self._failed(f"{service}: not {desired} replicas in the pool after {waited:.0f} s")
        else:
            return
        activity.job.close()
        state.history = state.history.after(activity.decision, now)
        state.activity = None

    def _failed(self, line: str) -> None:
        """Report a scaling activity that did not reach its count, and remember it."""
        self.say(line)
        self.failures.append(line)

    @property
    def busy(self) -> bool:
        """Say whether a scaling activity is still in flight."""
        return any(s.activity is not None for s in self.states.values())

    def run(self, once: bool) -> None:
        """Sample and decide until interrupted, or (once) until every alarm could decide.

        With `once`, a decided scaling that failed (or never reached the pool) fails the run.
        """
        longest = max(
            s.policy.timings.history * s.policy.timings.period for s in self.states.values()
        )
        ready_at = self.clock() + longest
        if once:
            self.say(f"collecting {longest:g} s of CPU datapoints before deciding once")
        while True:
            tick = self.clock()
            replicas = self.sample()
            if once and tick >= ready_at:
                self.step(replicas, force=True)
                self.finish()
                for state in self.states.values():
                    if state.activity is not None:  # finish() gave up on it
                        desired = state.activity.decision.desired
                        self._failed(
                            f"{state.policy.service}: scaling to {desired} still in flight"
                        )
                if self.failures:
                    raise InfraError("; ".join(self.failures))
                return
            if not once:
                self.step(replicas)
            self.sleep(max(0.0, self.sample_interval - (self.clock() - tick)))

    def finish(self, timeout: float = STEP_TIMEOUT) -> None:
        """Follow the activities in flight until they complete (bounded by `timeout`)."""

        def done() -> bool:
            replicas = self.stack.replicas()
            for state in self.states.values():
                if state.activity is not None:
                    self._follow(state, replicas.get(state.policy.service, []), self.clock())
            return not self.busy

        poll(done, timeout, 1.0, clock=self.clock, sleep=self.sleep)


# --- the command ----------------------------------------------------------------------------


def policies(
    services_dir: Path | None, overrides: TimingOverrides, cpu_target: float | None = None
) -> list[Policy]:
    """Load every app's policy from the parameter files; timings and target overridden."""
    if cpu_target is not None and not 0 < cpu_target <= 100:
        raise InputError(
            f"--cpu-target must be a percentage above 0 and at most 100, got {cpu_target:g}"
        )
    apps = [p for p in load_all(services_dir).values() if p.is_app]
    if not apps:
        raise InputError(f"{services_dir}: no app services to scale")
    try:
        loaded = [Policy.from_params(p, **overrides) for p in apps]
    except ValueError as error:
        raise InputError(str(error)) from None
    if cpu_target is None:
        return loaded
    return [replace(policy, target=cpu_target) for policy in loaded]


def autoscale(
    project: str,
    services_dir: Path | None,
    timings: TimingOverrides,
    once: bool = False,
    sample_interval: float = DEFAULT_SAMPLE_INTERVAL,
    say: Callable[[str], None] | None = None,
    cpu_target: float | None = None,
) -> None:
    """Load the policies, then run the scaler until done (once) or stopped (Ctrl-C, SIGTERM)."""
    say = say or _say
    loaded = policies(services_dir, timings, cpu_target)
    if sample_interval <= 0:
        raise InputError("--sample-interval must be more than 0 seconds")
    stack = ComposeStack(project)
    stack.replicas()  # refuses a project that is not up, before its name is a lock file's
    only = only_scaler(project)
    try:
        scaler = Scaler(stack, loaded, sample_interval, say=say)
        for policy in loaded:
            say(_describe_policy(policy))
        # Set both, even where SIGINT was ignored (a script's background job); put them back.
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        previous_term = signal.signal(signal.SIGTERM, _interrupt)
        try:
            scaler.run(once=once)
        except KeyboardInterrupt:
            _finish_after_interrupt(scaler, say)
            raise
        finally:
            signal.signal(signal.SIGINT, previous)
            signal.signal(signal.SIGTERM, previous_term)
    finally:
        only.release()


def only_scaler(project: str) -> ServiceLock:
    """Take the project's autoscaler lock, or refuse: another scaler already runs on it."""
    lock = ServiceLock(project, AUTOSCALER)
    if not lock.try_acquire("bookingapp-local autoscale"):
        raise InfraError(
            f"an autoscaler already runs on project {project!r} "
            f"({lock.holder() or 'another process'}): one per stack, as ECS has one "
            "scalable target per service; stop that one first"
        )
    return lock


def _describe_policy(policy: Policy) -> str:
    """Say what one service's policy is, as the scaler starts."""
    t, p = policy.timings, policy
    return (
        f"{p.service}: target {p.target:g}% CPU, {p.min_capacity}..{p.max_capacity} replicas; "
        f"datapoints of {t.period:g} s, out after {t.scale_out_datapoints}, in after "
        f"{t.scale_in_datapoints}; cooldowns out {t.scale_out_cooldown:g} s, "
        f"in {t.scale_in_cooldown:g} s"
    )


def _interrupt(signum: int, frame: object) -> None:
    """Turn SIGTERM into the same clean stop as Ctrl-C."""
    raise KeyboardInterrupt


def _finish_after_interrupt(scaler: Scaler, say: Callable[[str], None]) -> None:
    """After Ctrl-C, finish a scaling activity in flight (so no drain is left half done)."""
    # A second Ctrl-C (or SIGTERM) leaves at once; compose then finishes on its own.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if scaler.busy:
        say("interrupted: finishing the scaling in flight (Ctrl-C again to leave it running)")
        try:
            scaler.finish()
        except InfraError as error:
            say(f"could not follow it to the end: {error}")
    say("stopped")


def _say(line: str) -> None:
    """Print one timestamped line at once (the scaler's output is read live)."""
    print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)
