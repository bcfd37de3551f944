"""The controller of a local blue/green release: it walks the stages and makes them true.

Each stage's work can be run again (after Ctrl-C or a crash, `approve`/`rollback` take
over from the state file): writing rules is idempotent, compose `up --no-recreate --scale`
only adds what is missing, stopping a replica that is gone is a no-op. What each stage does,
and why green can never take production traffic early, is in bluegreen.py's docstring.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bookingapp_infra.local import bluegreen_docker as dk
from bookingapp_infra.local import bluegreen_rules as rules
from bookingapp_infra.local import bluegreen_state as st
from bookingapp_infra.local.bluegreen_docker import LocalError

PROG = "bookingapp-local"
STATE_DIR = ".bluegreen"  # inside the rules directory; Traefik reads only .yml/.toml files
WAIT = 180.0  # seconds for one step: replicas healthy, Traefik applying a rule change
POLL = 0.5


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
        print(f"{r.service}: {r.stage if r.status == st.IN_PROGRESS else r.status}", flush=True)
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
