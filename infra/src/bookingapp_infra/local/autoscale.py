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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

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
    image: str  # the reference it was started from
    image_id: str
    cpu_limit: float  # in CPUs: compose's deploy.resources.limits.cpus
    labels: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def traefik_service(self) -> str:
        """Return the Traefik service it registers with (its label), else its compose name."""
        for key in self.labels:
            if key.startswith(_TRAEFIK_SERVICES_LABEL) and key.count(".") > 3:
                return key.split(".")[3]
        return self.service


def _replica(inspected: dict) -> Replica:
    """Build a Replica from one `docker inspect` record."""
    labels = inspected["Config"]["Labels"] or {}
    nano = inspected["HostConfig"].get("NanoCpus") or 0
    # Without a limit a container may use every CPU of the engine, so that is its capacity.
    limit = nano / 1e9 if nano else float(os.cpu_count() or 1)
    return Replica(
        id=inspected["Id"],
        service=labels.get("com.docker.compose.service", ""),
        image=inspected["Config"]["Image"],
        image_id=inspected["Image"],
        cpu_limit=limit,
        labels=labels,
    )


def parse_percent(text: str) -> float:
    """Turn docker stats' "12.34%" into 12.34 ("--" for a stopping container is 0)."""
    text = text.strip().rstrip("%")
    return float(text) if text and text != "--" else 0.0


class Job:
    """A scaling command running in the background: `docker compose up --scale`."""

    def __init__(self, options: list[str], overlay: dict, args: list[str]) -> None:
        self.scratch = tempfile.TemporaryDirectory(prefix="bookingapp-autoscale-")
        extra = Path(self.scratch.name) / "scale.json"  # JSON is YAML: compose reads it
        extra.write_text(json.dumps(overlay))
        # Its output goes to a file: a pipe nobody reads while it runs could fill and block it.
        self.log = (Path(self.scratch.name) / "compose.log").open("w+")
        # Its own session: Ctrl-C on the scaler must not cut a scale-in's drain short.
        self.process = subprocess.Popen(  # noqa: S603 - argument list, no shell
            ["docker", "compose", *options, "-f", str(extra), *args],  # noqa: S607 - on PATH
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def poll(self) -> str | None:
        """Return None while it runs, "" when it succeeded, else the last line it wrote."""
        code = self.process.poll()
        if code is None:
            return None
        if code == 0:
            return ""
        self.log.seek(0)
        return (self.log.read().strip().splitlines() or [f"exit code {code}"])[-1]

    def close(self) -> None:
        """Forget its files (compose has read them by now)."""
        self.log.close()
        self.scratch.cleanup()


class ComposeStack:
    """The compose project on this host: its replicas, their CPU, Traefik's pool, scaling."""

    def __init__(self, project: str, dashboard: str | None = None) -> None:
        self.project = project
        self.dashboard = dashboard

    def replicas(self) -> dict[str, list[Replica]]:
        """Return the project's running containers by compose service; refuse if none."""
        ids = docker(
            "ps",
            "--quiet",
            "--no-trunc",
            "--filter",
            f"label=com.docker.compose.project={self.project}",
            "--filter",
            "label=com.docker.compose.oneoff=False",
            "--filter",
            "status=running",
        ).split()
        if not ids:
            raise ScalerError(
                f"no running containers in compose project {self.project!r}: start the stack "
                "with `docker compose up -d` (or name it with --project)"
            )
        try:
            inspected = json.loads(docker("inspect", *ids))
        except ScalerError:
            return {}  # one went away between ps and inspect (a scale-in): look again next time
        grouped: dict[str, list[Replica]] = {}
        for replica in map(_replica, inspected):
            grouped.setdefault(replica.service, []).append(replica)
        return grouped

    def cpu(self, replicas: list[Replica]) -> dict[str, float]:
        """Return each replica's CPU use in percent of its CPU limit, by container id."""
        by_id = {r.id: r for r in replicas}
        if not by_id:
            return {}
        try:
            out = docker("stats", "--no-stream", "--no-trunc", "--format", "{{json .}}", *by_id)
        except ScalerError:
            return {}  # a replica stopped mid-sample (a scale-in): this sample is missing data
        found = {}
        for row in map(json.loads, out.splitlines()):
            replica = by_id.get(row["ID"])
            if replica is not None:
                # docker stats says 100 % for one whole CPU; ECS's metric is relative to the
                # task's reservation, here the compose limit (0.5 CPU busy at 50 % is 100 %).
                found[replica.id] = parse_percent(row["CPUPerc"]) / replica.cpu_limit
        return found

    def in_pool(self, replicas: list[Replica], service: str) -> int:
        """Return how many servers Traefik has UP for the service (0 while it has none)."""
        name = replicas[0].traefik_service if replicas else service
        url = f"{self._dashboard()}/api/http/services/{name}@docker"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
                status = json.load(response).get("serverStatus", {})
        except urllib.error.HTTPError as error:
            if error.code == 404:  # no replica routable yet: Traefik has no such service
                return 0
            raise ScalerError(f"Traefik's API answered {error.code} for {url}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise ScalerError(f"Traefik's API at {url} does not answer: {error}") from None
        return sum(1 for state in status.values() if state == "UP")

    def scale(self, replicas: list[Replica], service: str, count: int) -> Job:
        """Start setting the service's replica count with compose and the project's files."""
        labels = replicas[0].labels
        files = labels.get("com.docker.compose.project.config_files", "").split(",")
        options = [arg for f in files if f for arg in ("-f", f)]
        if labels.get("com.docker.compose.project.working_dir"):
            options += ["--project-directory", labels["com.docker.compose.project.working_dir"]]
        # --no-recreate: running replicas are left alone; --no-deps: nothing else is touched.
        up = ["up", "--detach", "--no-recreate", "--no-deps", "--no-build"]
        # New replicas run the image the running ones run (as ECS starts tasks from the
        # service's task definition), whatever TAG this shell has or the tag points to now.
        overlay = {"services": {service: {"image": replicas[0].image}}}
        args = [*up, "--scale", f"{service}={count}", service]
        return Job(["-p", self.project, *options], overlay, args)

    def _dashboard(self) -> str:
        """Return the Traefik API's URL: --dashboard, else traefik's published port 8080."""
        if self.dashboard is None:
            traefik = self.replicas().get("traefik")
            if not traefik:
                raise ScalerError(
                    f"project {self.project!r} has no running traefik: the scaler asks "
                    "Traefik which replicas are in the pool (or pass --dashboard URL)"
                )
            published = docker("port", traefik[0].id, "8080/tcp").split()
            if not published:
                raise ScalerError("traefik's dashboard port 8080 is not published on the host")
            host, _, port = published[0].rpartition(":")
            host = "127.0.0.1" if host in ("0.0.0.0", "[::]", "") else host.strip("[]")  # noqa: S104
            self.dashboard = f"http://{host}:{port}"
        return self.dashboard


def releasing(replicas: list[Replica]) -> bool:
    """Say whether a service is mid-release: its replicas run more than one image."""
    return len({r.image_id for r in replicas}) > 1


# --- the scaler -------------------------------------------------------------------------------


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
        stack: ComposeStack,
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
            points = state.series.datapoints(now)
            decision = decide(state.policy, points, len(mine), state.history, now, releasing(mine))
            self._act(state, decision, mine, now)

    def _act(self, state: ServiceState, decision: Decision, mine: list[Replica], now: float):
        """Print a decision when it says something new, and start the scaling it asks for."""
        if decision.changes or decision.reason != state.last_said:
            self.say(decision.describe())
            state.last_said = decision.reason
        if decision.changes:
            job = self.stack.scale(mine, decision.policy.service, decision.desired)
            state.activity = Activity(decision, job, now)

    def _follow(self, state: ServiceState, mine: list[Replica], now: float) -> None:
        """Complete an activity once compose is done and Traefik's pool has the new count."""
        activity = state.activity
        service, desired = state.policy.service, activity.decision.desired
        outcome = activity.job.poll()
        waited = now - activity.started
        if outcome:
            self.say(f"{service}: scaling to {desired} failed: {outcome}")
        elif outcome == "" and len(mine) == desired == self.stack.in_pool(mine, service):
            self.say(f"{service}: {desired} replicas, all in Traefik's pool after {waited:.0f} s")
        elif waited > ACTIVITY_TIMEOUT:
            self.say(f"{service}: not {desired} replicas in the pool after {waited:.0f} s")
        else:
            return
        activity.job.close()
        state.history = state.history.after(activity.decision, now)
        state.activity = None

    @property
    def busy(self) -> bool:
        """Say whether a scaling activity is still in flight."""
        return any(s.activity is not None for s in self.states.values())

    def run(self, once: bool) -> None:
        """Sample and decide until interrupted, or (once) until every alarm could decide."""
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
                return
            if not once:
                self.step(replicas)
            self.sleep(max(0.0, self.sample_interval - (self.clock() - tick)))

    def finish(self, timeout: float = ACTIVITY_TIMEOUT) -> None:
        """Follow the activities in flight until they complete (bounded by `timeout`)."""
        deadline = self.clock() + timeout
        while self.busy and self.clock() < deadline:
            replicas = self.stack.replicas()
            for state in self.states.values():
                if state.activity is not None:
                    self._follow(state, replicas.get(state.policy.service, []), self.clock())
            if self.busy:
                self.sleep(1.0)


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
        stack = ComposeStack(args.project, args.dashboard)
        scaler = Scaler(stack, loaded, args.sample_interval, say=_say)
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
