"""The listener rules of a traffic-shifting release, as Traefik file-provider configuration.

On AWS a blue/green (linear, canary) release edits ALB listener rules: the production rule
forwards to the blue and green target groups with weights, and a test rule (same path plus
the header `X-Bookingapp-Test: green`, evaluated first) forwards to green only. Locally
Traefik plays the ALB, and its weighted round robin services exist only in its file
provider, so the release writes these rules into the directory compose.yaml mounts into
Traefik:

- `S-blue`, `S-green`: the two target groups, each a load balancer over the replicas'
  addresses on the compose network, with the same health check as the Docker labels.
- `S-production`: a weighted service over them (the ALB rule's weighted forward).
- router `S-production` shadows the service's Docker router (same rule, one priority
  higher), so production traffic follows the weights whatever joins `S@docker`.
- router `S-test`: the production rule plus the header, one priority higher again.

Everything here is pure: a `Routing` in, a dict Traefik reads out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bookingapp_infra.local.strategies.state import FULL
from bookingapp_infra.local.traefik import HealthCheck, Listener

TEST_HEADER = "X-Bookingapp-Test"
TENTHS = 10  # Traefik weight units per percent of production traffic
TEST_VALUE = "green"


@dataclass(frozen=True)
class Routing:
    """Where production and test traffic of one service go at one moment of a release."""

    service: str
    listener: Listener
    health: HealthCheck
    blue: tuple[str, ...]  # server URLs of the blue replicas
    green: tuple[str, ...] = ()  # server URLs of the green replicas
    green_weight: float = 0  # percent of production traffic green gets (steps of 0.1)
    test: bool = False  # whether the test rule sends header-carrying requests to green

    def __post_init__(self) -> None:
        """Refuse routings that would send traffic nowhere."""
        if not 0 <= self.green_weight <= FULL:
            raise ValueError(f"green_weight must be 0..{FULL}, got {self.green_weight:g}")
        if self.green_weight < FULL and not self.blue:
            raise ValueError("blue has no replicas but still gets production traffic")
        if (self.green_weight > 0 or self.test) and not self.green:
            raise ValueError("green has no replicas but is asked to take traffic")


def names(service: str) -> dict[str, str]:
    """Return the file-provider names the release uses for one service."""
    return {
        "blue": f"{service}-blue",
        "green": f"{service}-green",
        "production": f"{service}-production",
        "test": f"{service}-test",
    }


def with_test_header(rule: str) -> str:
    """Return the test listener rule: the production rule plus the test header."""
    return f"({rule}) && Header(`{TEST_HEADER}`, `{TEST_VALUE}`)"


def weights(routing: Routing) -> dict[str, int]:
    """Return each target group's weight in the production rule, zero weights left out.

    Traefik's weights are integers and ECS's shares go in steps of 0.1 %, so the weights are
    tenths of a percent (a 5 % canary is 50 to 950): every share ECS accepts is exact.
    """
    n = names(routing.service)
    green = round(routing.green_weight * TENTHS)
    split = {n["blue"]: FULL * TENTHS - green, n["green"]: green}
    # Traefik ignores non-positive weights anyway; leaving them out says so plainly.
    return {name: weight for name, weight in split.items() if weight > 0}


def render(routing: Routing) -> dict[str, Any]:
    """Return the Traefik dynamic configuration for this routing."""
    n = names(routing.service)
    listener = routing.listener
    routers = {
        n["production"]: {
            "entryPoints": list(listener.entrypoints),
            "rule": listener.rule,
            # One above the Docker router: wins for the same requests, and still below
            # any other rule that was already above it.
            "priority": listener.priority + 1,
            "service": n["production"],
        }
    }
    if routing.test:
        routers[n["test"]] = {
            "entryPoints": list(listener.entrypoints),
            "rule": with_test_header(listener.rule),
            # The ALB evaluates the test rule first (a lower number there, higher here).
            "priority": listener.priority + 2,
            "service": n["green"],
        }
    services = {
        n["production"]: {
            "weighted": {
                "services": [{"name": k, "weight": v} for k, v in weights(routing).items()],
                # Skip a target group whose every target is down, as the ALB would.
                "healthCheck": {},
            }
        }
    }
    for colour, urls in (("blue", routing.blue), ("green", routing.green)):
        if urls:
            services[n[colour]] = target_group(urls, routing.health)
    return {"http": {"routers": routers, "services": services}}


def target_group(urls: tuple[str, ...], health: HealthCheck) -> dict[str, Any]:
    """Return a load balancer over the given servers with the target group health check."""
    return {
        "loadBalancer": {
            "servers": [{"url": url} for url in urls],
            "healthCheck": {
                "path": health.path,
                "interval": health.interval,
                "timeout": health.timeout,
            },
        }
    }


def dump(config: dict[str, Any], service: str) -> str:
    """Return the configuration as file text (JSON is YAML, so Traefik reads a .yml file)."""
    header = f"# {service}'s release listener rules; written by bookingapp-local, do not edit.\n"
    return header + json.dumps(config, indent=2, sort_keys=True) + "\n"
