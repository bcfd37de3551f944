"""The controller of a local blue/green release: it walks the stages and makes them true.

Each stage's work can be run again (after Ctrl-C or a crash, `approve`/`rollback` take
over from the state file): writing rules is idempotent, compose `up --no-recreate --scale`
only adds what is missing, stopping a replica that is gone is a no-op. What each stage does,
and why green can never take production traffic early, is in bluegreen.py's docstring.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bookingapp_infra.errors import InfraError
from bookingapp_infra.local import bluegreen_rules as rules
from bookingapp_infra.local import bluegreen_state as st
from bookingapp_infra.local import bluegreen_traefik as tk
from bookingapp_infra.local import compose, traefik

PROG = "bookingapp-local"
STATE_DIR = ".bluegreen"  # inside the rules directory; Traefik reads only .yml/.toml files
WAIT = 180.0  # seconds for one step: replicas healthy, Traefik applying a rule change
POLL = 0.5
# The 5xx rollback alarm of service.yaml: more than 5 server errors from green in a minute.
ERROR_LIMIT = 5
ERROR_WINDOW = 60.0


@dataclass(frozen=True)
class Paths:
    """Where one service's release keeps its rules, its state and requests to it."""

    rules: Path
    state: Path
    request: Path

    @classmethod
    def under(cls, rules_dir: Path, service: str) -> Paths:
        """Return the paths for one service in Traefik's rules directory."""
        state_dir = rules_dir / STATE_DIR
        return cls(
            rules=rules_dir / f"bluegreen-{service}.yml",
            state=state_dir / f"{service}.json",
            request=state_dir / f"{service}.request",
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
    if os.name == "nt":
        return _alive_on_windows(pid)
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _alive_on_windows(pid: int) -> bool:
    """Ask Windows whether the process runs (os.kill there would terminate it). Untested here."""
    import ctypes  # Windows only

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x00100000, False, pid)  # SYNCHRONIZE
    if not handle:
        return False
    try:
        return bool(kernel32.WaitForSingleObject(handle, 0) == 0x00000102)  # WAIT_TIMEOUT: running
    finally:
        kernel32.CloseHandle(handle)


class Controller:
    """Drives one release through its stages on one compose project, saying what it does."""

    def __init__(self, project: str, release: st.Release, wait: float = WAIT) -> None:
        self.project = project
        self.release = release
        self.wait = wait
        self.paths = Paths.under(tk.rules_dir(project), release.service)
        self.api = traefik.api_url(project)
        self.labels: tk.ServiceLabels | None = None
        self.approval_timeout = 3600.0
        self.errors: deque[tuple[float, int]] = deque()  # (when, green's 5xx so far), a window
        self.began = time.monotonic()

    def say(self, message: str = "") -> None:
        """Print one progress line: service, stage, seconds since this command began."""
        r = self.release
        where = r.stage if r.status == st.IN_PROGRESS else r.status
        elapsed = time.monotonic() - self.began
        print(
            f"{r.service}: {where} [{elapsed:.1f} s]" + (f": {message}" if message else ""),
            flush=True,
        )

    def save(self, release: st.Release) -> None:
        """Keep the new state in memory and on disk."""
        self.release = release
        write_atomically(self.paths.state, st.to_json(release))

    # -- the routing Traefik should have now ------------------------------------------

    def service_labels(self) -> tk.ServiceLabels:
        """Read the service's router and health check from a running replica's labels."""
        if self.labels is None:
            replicas = compose.require_up(self.project, self.release.service)
            self.labels = tk.read_labels(replicas[0])
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
        tk.wait_for(
            "Traefik applying the new listener rules",
            lambda: self.applied(routing),
            self.wait,
        )

    def applied(self, routing: rules.Routing) -> bool:
        """Say whether Traefik's API shows exactly these rules and their targets UP."""
        n = rules.names(routing.service)
        router = tk.get(self.api, f"routers/{n['production']}@file")
        if not router or router.get("status") != "enabled":
            return False
        weighted = tk.get(self.api, f"services/{n['production']}@file") or {}
        shown = {
            s["name"].split("@")[0]: s["weight"]
            for s in weighted.get("weighted", {}).get("services", [])
        }
        if shown != rules.weights(routing):
            return False
        test = tk.get(self.api, f"routers/{n['test']}@file")
        if bool(test and test.get("status") == "enabled") != routing.test:
            return False
        groups = (("blue", routing.blue), ("green", routing.green))
        return all(self.servers_up(n[c], urls, "file") for c, urls in groups if urls)

    def servers_up(self, service: str, urls: Sequence[str], provider: str) -> bool:
        """Say whether a Traefik service has exactly these servers, all UP."""
        shown = traefik.pool(self.api, service, provider)
        return set(shown) == set(urls) and all(v == traefik.UP for v in shown.values())

    def remove_rules(self, survivors: tuple[st.Replica, ...]) -> None:
        """Hand routing back to the Docker router once `S@docker` is exactly the survivors."""
        service = self.release.service
        tk.wait_for(
            f"Traefik's {service}@docker pool becoming exactly the remaining replicas",
            lambda: self.servers_up(service, [x.url for x in survivors], "docker"),
            self.wait,
        )
        self.paths.rules.unlink(missing_ok=True)
        production = rules.names(service)["production"]
        tk.wait_for(
            "Traefik dropping the release's rules",
            lambda: tk.get(self.api, f"routers/{production}@file") is None,
            self.wait,
        )

    # -- replicas ---------------------------------------------------------------------

    def replicas(self) -> tuple[st.Replica, ...]:
        """Return the service's running replicas, each with its URL for Traefik."""
        return tuple(tk.target(r) for r in compose.replicas(self.project, self.release.service))

    def start_green(self) -> None:
        """Start as many green replicas as blue has, from the new image, and wait for health."""
        r = self.release
        blue_ids = {x.id for x in r.blue}
        # Replicas of the same compose service (files, network, alias, labels); --no-recreate
        # leaves blue as it is. Run again after a crash, it only adds what is missing. The
        # release label, named after blue, tells the autoscaler a release is under way.
        release = f"{r.service}-green-of-{min(blue_ids)[:12]}"
        compose.scale(self.project, r.service, 2 * len(r.blue), image=r.image, release=release)
        green = tuple(x for x in self.replicas() if x.id not in blue_ids)
        self.save(replace(r, green=green))
        self.say(f"started {len(green)} green replicas from {r.image}: {names_of(green)}")
        compose.wait_healthy(self.project, [x.id for x in green], timeout=self.wait)
        self.say("green is healthy; production traffic still goes to blue only")

    def stop(self, replicas: tuple[st.Replica, ...]) -> None:
        """Drain and remove replicas (SIGTERM: health fails, serving goes on, then exit)."""
        still_there = {c["Id"] for c in compose.inspect([x.id for x in replicas])}
        compose.stop(x for x in replicas if x.id in still_there)

    # -- the stages -------------------------------------------------------------------

    def drive(self) -> st.Release:
        """Run the release from its current stage to SUCCESSFUL or a finished rollback."""
        self.save(replace(self.release, controller_pid=os.getpid()))
        self.say()
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
            self.say(f"{r.service} runs {r.image} on {names_of(r.green)}")
            return
        self.say()
        if r.paused:
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
        """Wait, taking requests and watching green; True when a rollback or approval ends it."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.take_request()
            if self.release.status == st.IN_PROGRESS and (reason := self.alarm()):
                self.save(st.rollback(self.release, reason))
            if self.release.status == st.ROLLBACK_IN_PROGRESS:
                return True
            if until_approved and not self.release.paused:
                return True
            time.sleep(min(POLL, max(0.0, deadline - time.monotonic())))
        return False

    def alarm(self) -> str | None:
        """Say why green fails one of the release's rollback alarms, or None while it passes.

        On AWS a CloudWatch alarm on the green target group's UnHealthyHostCount rolls the
        deployment back (service.yaml); here Docker's health verdict on each green replica
        stands in for the target health check. Then the 5xx alarm (error_alarm).
        """
        green = self.release.green
        found = {c["Id"]: c["State"] for c in compose.inspect([x.id for x in green])}
        for replica in green:
            state = found.get(replica.id, {})
            if not state.get("Running"):
                return f"alarm: green replica {replica.name} is not running"
            if (state.get("Health") or {}).get("Status") == "unhealthy":
                return f"alarm: green replica {replica.name} is unhealthy"
        return self.error_alarm() if green else None

    def error_alarm(self) -> str | None:
        """Say whether green answered more than ERROR_LIMIT 5xx within ERROR_WINDOW seconds.

        The twin of the HTTPCode_Target_5XX_Count alarm on the green target group
        (service.yaml: more than 5 a minute), read from Traefik's counter for `S-green`,
        test traffic included as on AWS. It fires as soon as one window holds too many,
        where CloudWatch waits for 2 of 3 one-minute datapoints.
        """
        count = traefik.server_errors(self.api, rules.names(self.release.service)["green"])
        if count is None:
            return None  # a stack without Traefik's metrics: nothing to read (docs/bluegreen.md)
        now = time.monotonic()
        self.errors.append((now, count))
        while self.errors[0][0] < now - ERROR_WINDOW:
            self.errors.popleft()
        errors = count - self.errors[0][1]
        if errors > ERROR_LIMIT:
            return f"alarm: green answered {errors} 5xx within {ERROR_WINDOW:.0f} s"
        return None

    def clean_up(self) -> None:
        """Drain and remove blue, then give routing back to the Docker router (green only)."""
        r = self.release
        self.apply(self.routing(blue=False))
        self.say(f"draining and stopping blue: {names_of(r.blue)}")
        self.stop(r.blue)
        self.remove_rules(r.green)

    def roll_back(self) -> None:
        """Send everything back to blue at once, remove green, hand routing back."""
        r = self.release
        self.say(f"rolling back ({r.reason}): all traffic to blue")
        if not r.blue:  # failed before blue was recorded: nothing was started or routed
            self.paths.rules.unlink(missing_ok=True)
            self.save(st.finish_rollback(r))
            return
        try:
            self.apply(self.routing())
            green = r.green or tuple(
                x for x in self.replicas() if x.id not in {b.id for b in r.blue}
            )
            self.say(f"stopping green: {names_of(green)}")
            self.stop(green)
            self.remove_rules(r.blue)
        except InfraError:
            self.save(st.finish_rollback(self.release, ok=False))
            raise
        self.save(st.finish_rollback(self.release))
        self.say(f"{r.service} runs the previous image on {names_of(r.blue)}")

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
