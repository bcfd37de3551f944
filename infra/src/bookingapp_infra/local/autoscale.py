"""`bookingapp-local autoscale`: each app's own target tracking policy, acted out on compose.

Runs on the host beside a stack that is up (`docker compose up -d`), through the docker CLI
only — so it works wherever `docker` works, Docker Desktop included, and needs no container
holding a writable Docker socket. Every sample it reads each replica's CPU with `docker stats`
relative to the replica's compose CPU limit (as ECS reads a task's CPU relative to its
reservation), averages the service's replicas into datapoints of one period, and lets
policy.decide() say what target tracking would do. A decision is carried out with
`docker compose up --no-recreate --scale`; a scale-in stops replicas with SIGTERM, which the
apps answer by draining (they fail their health check and keep serving until Traefik has
dropped them). A scaling activity is complete only when Traefik's pool has exactly the new
number of servers UP: new replicas count as capacity once the load balancer routes to them.

Exit codes: 0 when --once has carried out its decisions, 130 when interrupted (Ctrl-C;
a scaling activity in flight is finished first), 2 for bad parameters or options, 1 when the
stack or Docker cannot be used.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bookingapp_infra.local.policy import Decision, History, MetricSeries, Policy, decide
from bookingapp_infra.params import SERVICES_DIR, ParamsError, load_all

# compose.yaml's top-level name: the project `docker compose up` creates by default.
DEFAULT_PROJECT = "bookingapp"
# How often CPU is sampled; several samples make one datapoint of the default 60 s period.
DEFAULT_SAMPLE_INTERVAL = 5.0
# A scaling activity that has not reached its count in this long is reported as failed
# (compose itself waits up to the 30 s stop grace period per stopped replica).
ACTIVITY_TIMEOUT = 180.0
DOCKER_TIMEOUT = 60.0
_TRAEFIK_SERVICES_LABEL = "traefik.http.services."


class ScalerError(Exception):
    """The scaler cannot run: the message says why, `exit_code` how to exit."""

    exit_code = 1


class UsageError(ScalerError):
    """Bad parameters or options: the user must change what they asked for."""

    exit_code = 2


# --- Docker, through its CLI ----------------------------------------------------------------


def docker(*args: str, timeout: float = DOCKER_TIMEOUT) -> str:
    """Run the docker CLI and return its stdout; a failure becomes a ScalerError."""
    try:
        result = subprocess.run(  # noqa: S603 - argument list, no shell
            ["docker", *args],  # noqa: S607 - the user's docker CLI, found on PATH on purpose
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise ScalerError("no docker CLI on PATH") from None
    except subprocess.TimeoutExpired:
        raise ScalerError(f"docker {args[0]} did not answer within {timeout:.0f} s") from None
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
        raise ScalerError(f"docker {args[0]} failed: {lines[-1]}")
    return result.stdout


@dataclass(frozen=True)
class Replica:
    """One running container of a compose service, as the scaler needs it."""

    id: str
    service: str
    image: str
    cpu_limit: float  # in CPUs: compose's deploy.resources.limits.cpus
    traefik_service: str | None
    config_files: str
    working_dir: str


def _replica(inspected: dict) -> Replica:
    """Build a Replica from one `docker inspect` record."""
    labels = inspected["Config"]["Labels"] or {}
    nano = inspected["HostConfig"].get("NanoCpus") or 0
    # Without a limit a container may use every CPU of the engine, so that is its capacity.
    limit = nano / 1e9 if nano else float(os.cpu_count() or 1)
    traefik = next(
        (key.split(".")[3] for key in labels if key.startswith(_TRAEFIK_SERVICES_LABEL)), None
    )
    return Replica(
        id=inspected["Id"],
        service=labels.get("com.docker.compose.service", ""),
        image=inspected["Image"],
        cpu_limit=limit,
        traefik_service=traefik,
        config_files=labels.get("com.docker.compose.project.config_files", ""),
        working_dir=labels.get("com.docker.compose.project.working_dir", ""),
    )


def running_replicas(project: str) -> list[Replica]:
    """Return the project's running, non-one-off containers."""
    ids = docker(
        "ps",
        "--quiet",
        "--no-trunc",
        "--filter",
        f"label=com.docker.compose.project={project}",
        "--filter",
        "label=com.docker.compose.oneoff=False",
        "--filter",
        "status=running",
    ).split()
    if not ids:
        return []
    try:
        return [_replica(c) for c in json.loads(docker("inspect", *ids))]
    except ScalerError:
        # A container went away between ps and inspect (a scale-in): ask again next sample.
        return []


def parse_percent(text: str) -> float:
    """Turn docker stats' "12.34%" into 12.34 ("--" for a stopping container is 0)."""
    text = text.strip().rstrip("%")
    return float(text) if text and text != "--" else 0.0


def cpu_utilisation(replicas: list[Replica]) -> dict[str, float]:
    """Return each replica's CPU use in percent of its CPU limit, by container id."""
    if not replicas:
        return {}
    by_id = {r.id: r for r in replicas}
    out = docker("stats", "--no-stream", "--no-trunc", "--format", "{{json .}}", *by_id)
    found = {}
    for line in out.splitlines():
        row = json.loads(line)
        replica = by_id.get(row["ID"])
        if replica is not None:
            # docker stats says 100 % for one full CPU; ECS's metric is relative to the
            # task's reservation, here the compose limit (0.5 CPU at 50 % is 100 %).
            found[replica.id] = parse_percent(row["CPUPerc"]) / replica.cpu_limit
    return found


def dashboard_url(replicas: list[Replica], project: str) -> str:
    """Return the URL of the project's Traefik API (its dashboard port on the host)."""
    traefik = [r for r in replicas if r.service == "traefik"]
    if not traefik:
        raise ScalerError(
            f"project {project!r} has no running traefik: the scaler asks Traefik which "
            "replicas are in the pool (or pass --dashboard URL)"
        )
    published = docker("port", traefik[0].id, "8080/tcp").split()
    if not published:
        raise ScalerError("traefik's dashboard port 8080 is not published on the host")
    host, _, port = published[0].rpartition(":")
    host = "127.0.0.1" if host in ("0.0.0.0", "[::]", "") else host.strip("[]")  # noqa: S104
    return f"http://{host}:{port}"


def servers_up(dashboard: str, traefik_service: str) -> int:
    """Return how many servers Traefik's load balancer has UP for a service (0 if unknown)."""
    url = f"{dashboard}/api/http/services/{traefik_service}@docker"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our own URL
            status = json.load(response).get("serverStatus", {})
    except urllib.error.HTTPError as error:
        if error.code == 404:  # no replica routable yet: Traefik has no such service
            return 0
        raise ScalerError(f"Traefik API {url} answered {error.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise ScalerError(f"Traefik API {url} unreachable: {error}") from None
    return sum(1 for state in status.values() if state == "UP")


def start_scaling(
    replicas: list[Replica], project: str, service: str, count: int
) -> tuple[subprocess.Popen, IO[str]]:
    """Start `docker compose up --scale` for one service; return the process and its log."""
    sample = next(r for r in replicas if r.service == service)
    files = [arg for f in sample.config_files.split(",") if f for arg in ("-f", f)]
    command = ["docker", "compose", "-p", project, *files]
    if sample.working_dir:
        command += ["--project-directory", sample.working_dir]
    command += ["up", "--detach", "--no-recreate", "--no-deps", "--scale", f"{service}={count}"]
    # Its own session: Ctrl-C on the scaler must not interrupt a scale-in's drain halfway.
    # Its output goes to a file: a pipe nobody reads while it runs could fill and block it.
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed when the activity ends
    process = subprocess.Popen(  # noqa: S603 - argument list, no shell
        [*command, service],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    return process, log


# --- the scaler -------------------------------------------------------------------------------


@dataclass
class Activity:
    """A scaling activity in flight: the compose command and the count it aims for."""

    decision: Decision
    process: subprocess.Popen
    log: IO[str]
    started: float

    def last_words(self) -> str:
        """Return the last line compose wrote (why it failed), and close its log."""
        self.log.seek(0)
        lines = self.log.read().strip().splitlines() or ["no output"]
        self.log.close()
        return lines[-1]


@dataclass
class ServiceState:
    """What the scaler keeps per service between samples."""

    policy: Policy
    series: MetricSeries
    history: History = field(default_factory=History)
    activity: Activity | None = None
    last_said: str = ""


@dataclass
class Observation:
    """One look at the stack: replicas by service and their CPU."""

    replicas: dict[str, list[Replica]]
    cpu: dict[str, float]

    def average(self, service: str) -> float | None:
        """Return the service's average CPU utilisation over its replicas, None if unknown."""
        values = [self.cpu[r.id] for r in self.replicas.get(service, []) if r.id in self.cpu]
        return sum(values) / len(values) if values else None


class Scaler:
    """Samples the stack, evaluates each policy once per period, and carries decisions out."""

    def __init__(
        self,
        project: str,
        policies: Iterable[Policy],
        sample_interval: float,
        dashboard: str | None = None,
        say: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.project = project
        self.sample_interval = sample_interval
        self.dashboard = dashboard
        self.say = say
        self.clock = clock
        start = clock()
        self.states = {
            p.service: ServiceState(p, MetricSeries(p.timings.period, p.timings.history, start))
            for p in policies
        }
        self.evaluated: dict[str, int] = {}
        self.replicas: list[Replica] = []

    def observe(self) -> Observation:
        """Read the project's replicas and their CPU once; record the averages."""
        self.replicas = running_replicas(self.project)
        if not self.replicas:
            raise ScalerError(
                f"no running containers in compose project {self.project!r}; start the stack "
                "with `docker compose up -d` (or pass --project)"
            )
        if self.dashboard is None:
            self.dashboard = dashboard_url(self.replicas, self.project)
        by_service: dict[str, list[Replica]] = {}
        for replica in self.replicas:
            by_service.setdefault(replica.service, []).append(replica)
        watched = [r for r in self.replicas if r.service in self.states]
        try:
            cpu = cpu_utilisation(watched)
        except ScalerError:
            cpu = {}  # a replica vanished mid-sample (scale-in): this sample is missing data
        observation = Observation(by_service, cpu)
        now = self.clock()
        for service, state in self.states.items():
            average = observation.average(service)
            if average is not None:
                state.series.add(now, average)
        return observation

    def step(self, observation: Observation, force: bool = False) -> None:
        """Finish activities that are done and evaluate every policy whose period ended."""
        now = self.clock()
        for service, state in self.states.items():
            replicas = observation.replicas.get(service, [])
            if state.activity is not None:
                self._follow(state, replicas, now)
                continue
            # Like a CloudWatch alarm, evaluate once each time a period completes.
            completed = int((now - state.series.start) // state.policy.timings.period)
            if not force and self.evaluated.get(service) == completed:
                continue
            self.evaluated[service] = completed
            datapoints = state.series.datapoints(now)
            decision = decide(
                state.policy, datapoints, len(replicas), state.history, now, releasing(replicas)
            )
            self._act(state, decision, replicas, now)

    def _act(self, state: ServiceState, decision: Decision, replicas, now: float) -> None:
        """Print a decision when it says something new, and start the scaling it asks for."""
        line = decision.describe()
        if decision.changes or decision.reason != state.last_said:
            self.say(line)
            state.last_said = decision.reason
        if decision.changes:
            process, log = start_scaling(
                self.replicas, self.project, decision.policy.service, decision.desired
            )
            state.activity = Activity(decision, process, log, now)

    def _follow(self, state: ServiceState, replicas: list[Replica], now: float) -> None:
        """Complete an activity once compose is done and Traefik's pool has the new count."""
        activity = state.activity
        service, desired = activity.decision.policy.service, activity.decision.desired
        code = activity.process.poll()
        if code not in (None, 0):
            self.say(f"{service}: scaling to {desired} failed: {activity.last_words()}")
            state.activity = None
            return
        traefik = (replicas[0].traefik_service if replicas else None) or service
        in_pool = servers_up(self.dashboard, traefik) if self.dashboard else 0
        waited = now - activity.started
        if code == 0 and len(replicas) == desired and in_pool == desired:
            self.say(f"{service}: {desired} replicas, all in Traefik's pool after {waited:.0f} s")
        elif waited > ACTIVITY_TIMEOUT:
            self.say(
                f"{service}: scaling to {desired} not complete after {waited:.0f} s "
                f"({len(replicas)} running, {in_pool} in the pool); deciding again"
            )
        else:
            return
        activity.log.close()
        state.history = state.history.after(activity.decision, now)
        state.activity = None

    @property
    def busy(self) -> bool:
        """Say whether a scaling activity is still in flight."""
        return any(s.activity is not None for s in self.states.values())

    def run(self, once: bool, stop_at: float | None = None) -> None:
        """Sample and decide until interrupted, or (once) until every alarm could decide."""
        longest = max(
            s.policy.timings.history * s.policy.timings.period for s in self.states.values()
        )
        ready_at = self.clock() + longest
        if once:
            self.say(f"collecting {longest:.0f} s of CPU datapoints before deciding once")
        while stop_at is None or self.clock() < stop_at:
            tick = self.clock()
            observation = self.observe()
            if once and tick >= ready_at:
                self.step(observation, force=True)
                self.finish()
                return
            if not once:
                self.step(observation)
            time.sleep(max(0.0, self.sample_interval - (self.clock() - tick)))

    def finish(self, timeout: float = ACTIVITY_TIMEOUT) -> None:
        """Follow activities in flight until they complete (bounded)."""
        deadline = self.clock() + timeout
        while self.busy and self.clock() < deadline:
            time.sleep(1.0)
            observation = Observation(_group(running_replicas(self.project)), {})
            for state in self.states.values():
                if state.activity is not None:
                    self._follow(
                        state, observation.replicas.get(state.policy.service, []), self.clock()
                    )


def _group(replicas: list[Replica]) -> dict[str, list[Replica]]:
    """Group replicas by compose service."""
    grouped: dict[str, list[Replica]] = {}
    for replica in replicas:
        grouped.setdefault(replica.service, []).append(replica)
    return grouped


def releasing(replicas: list[Replica]) -> bool:
    """Say whether a service is mid-release: its replicas run more than one image."""
    return len({r.image for r in replicas}) > 1


# --- the command ------------------------------------------------------------------------------


def policies(services_dir: Path, overrides: dict[str, float]) -> list[Policy]:
    """Load every app's policy from the parameter files, timings overridden for tests."""
    try:
        services = load_all(services_dir)
    except ParamsError as error:
        raise UsageError(str(error)) from None
    apps = [p for p in services.values() if p.is_app]
    if not apps:
        raise UsageError(f"{services_dir}: no app services to scale")
    try:
        return [Policy.from_params(p, **overrides) for p in apps]
    except ValueError as error:
        raise UsageError(str(error)) from None


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `autoscale` verb and its options."""
    parser = subparsers.add_parser(
        "autoscale",
        help="scale the local stack's apps by their own CPU target tracking policies",
        description=__doc__.split("\n\n")[1],
    )
    parser.add_argument(
        "--project", "-p", default=os.environ.get("COMPOSE_PROJECT_NAME", DEFAULT_PROJECT)
    )
    parser.add_argument(
        "--services-dir",
        type=Path,
        default=SERVICES_DIR,
        help="parameter files (default: infra/services)",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="collect one evaluation's datapoints, decide once, carry it out, exit",
    )
    parser.add_argument(
        "--dashboard", help="Traefik API URL (default: the project's published dashboard port)"
    )
    parser.add_argument(
        "--sample-interval",
        type=float,
        default=DEFAULT_SAMPLE_INTERVAL,
        help="seconds between CPU samples",
    )
    timings = parser.add_argument_group("policy timings (default: AWS's; shorten them for tests)")
    timings.add_argument("--period", type=float, help="seconds per datapoint (CloudWatch: 60)")
    timings.add_argument(
        "--scale-out-datapoints",
        type=int,
        help="datapoints above target before scaling out (AWS: 3)",
    )
    timings.add_argument(
        "--scale-in-datapoints",
        type=int,
        help="datapoints below 90%% of target before scaling in (AWS: 15)",
    )
    timings.add_argument("--scale-out-cooldown", type=float, help="seconds (params, else 300)")
    timings.add_argument("--scale-in-cooldown", type=float, help="seconds (params, else 300)")
    parser.set_defaults(func=command)
    return parser


_TIMING_OPTIONS = (
    "period",
    "scale_out_datapoints",
    "scale_in_datapoints",
    "scale_out_cooldown",
    "scale_in_cooldown",
)


def command(args: argparse.Namespace) -> int:
    """Run the autoscale verb; return the exit code."""
    overrides = {k: getattr(args, k) for k in _TIMING_OPTIONS if getattr(args, k) is not None}
    try:
        loaded = policies(args.services_dir, overrides)
        if args.sample_interval <= 0:
            raise UsageError("--sample-interval must be more than 0 seconds")
        scaler = Scaler(args.project, loaded, args.sample_interval, args.dashboard, say=_say)
        for policy in loaded:
            _say(_describe_policy(policy))
        return _run_until_stopped(scaler, args.once)
    except ScalerError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code


def _run_until_stopped(scaler: Scaler, once: bool) -> int:
    """Run the scaler; Ctrl-C or SIGTERM stop it cleanly (exit 130)."""
    # Set both, even where SIGINT was ignored (a script's background job), and put them back.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous_term = signal.signal(signal.SIGTERM, _interrupt)
    try:
        scaler.run(once=once)
        return 0
    except KeyboardInterrupt:
        return _interrupted(scaler)
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)


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


def _interrupted(scaler: Scaler) -> int:
    """Finish a scaling activity in flight after Ctrl-C, then exit 130."""
    # A second Ctrl-C (or SIGTERM) leaves at once; the compose command runs on by itself.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if scaler.busy:
        _say("interrupted: finishing the scaling in flight (Ctrl-C again to leave it running)")
        try:
            scaler.finish()
        except ScalerError as error:
            print(f"error: {error}", file=sys.stderr)
    _say("stopped")
    return 130


def _say(line: str) -> None:
    """Print one timestamped line at once (the scaler's output is read live)."""
    print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run `autoscale` on its own (until the local CLI hosts it)."""
    parser = argparse.ArgumentParser(prog="bookingapp-local")
    add_parser(parser.add_subparsers(dest="verb", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
