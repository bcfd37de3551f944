"""What `deploy` would build, priced before it costs: per stack and in total, per hour and month.

The quantities come from the same plan `deploy` runs (stacks.plan over the parameter files),
the prices from infra/prices.toml, a dated table that names the source of every number.
Only what runs by the hour is priced; what is billed by use is listed as left out.
"""

from __future__ import annotations

import textwrap
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from bookingapp_infra.errors import InputError
from bookingapp_infra.params import CPU_ARCHITECTURES, INFRA_DIR, ServiceParams
from bookingapp_infra.stacks import Stack

PRICES_FILE = INFRA_DIR / "prices.toml"
WIDTH = 100  # the report's prose lines wrap here
DEFAULT_REGION = "us-east-1"
# A demo's traffic keeps the ALB at (well under) one LCU an hour.
LCUS = 1
# An internet-facing ALB has a public IPv4 address in each AZ it spans: the platform's two.
ALB_ADDRESSES = 2
# The platform's secrets: the Redis password (a registry secret is yours, made by hand).
PLATFORM_SECRETS = 1
PRICE_KEYS = (
    *(f"fargate_{unit}_hour.{arch}" for unit in ("vcpu", "gb") for arch in CPU_ARCHITECTURES),
    "nat_gateway_hour",
    "public_ipv4_hour",
    "alb_hour",
    "alb_lcu_hour",
    "secret_month",
    "hosted_zone_month",
)
LEFT_OUT = (
    "data transfer out to the internet and NAT data processing (per GB)",
    "ALB LCUs above one",
    "Container Insights metrics",
    "CloudWatch Logs ingestion and storage",
    "the rollback alarms (2 per app, 4 traffic-shifting; no dated price in the table)",
    "EFS storage, throughput and its AWS Backup (kilobytes for a counter)",
    "a blue/green, linear or canary deployment's second set of tasks while it runs",
    "API calls (Secrets Manager, Route 53 queries), a registry secret you create, tax",
)


@dataclass(frozen=True)
class Price:
    """One list price: dollars per unit, where it comes from and when that was read."""

    usd: float
    read: date
    source: str
    via: str


@dataclass(frozen=True)
class PriceTable:
    """The prices of one region, as infra/prices.toml gives them."""

    region: str
    name: str
    hours_per_month: int
    prices: Mapping[str, Price]

    def usd(self, key: str) -> float:
        """Return one price in dollars."""
        return self.prices[key].usd

    def per_hour(self, monthly_key: str) -> float:
        """Return a monthly price spread over the hours of a month."""
        return self.usd(monthly_key) / self.hours_per_month

    def task_hour(self, architecture: str, vcpu: float, gb: float) -> float:
        """Return what one Fargate task of this size costs an hour."""
        return vcpu * self.usd(f"fargate_vcpu_hour.{architecture}") + gb * self.usd(
            f"fargate_gb_hour.{architecture}"
        )


def load_prices(region: str = DEFAULT_REGION, path: Path = PRICES_FILE) -> PriceTable:
    """Return one region's prices, or refuse a region (or a price) the table lacks."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    regions: dict[str, Any] = raw["regions"]
    if region not in regions:
        raise InputError(
            f"no prices for {region} in {path.name} (it lists {', '.join(regions)}): add the "
            "region's prices there, each with its source and date"
        )
    flat = flatten(regions[region]["prices"])
    missing = [key for key in PRICE_KEYS if key not in flat]
    if missing:
        raise InputError(f"{path.name}: {region} has no price for {', '.join(missing)}")
    prices = {key: Price(**flat[key]) for key in PRICE_KEYS}
    return PriceTable(region, regions[region]["name"], raw["hours_per_month"], prices)


def flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """Return the price entries of a TOML table by dotted key (fargate_vcpu_hour.ARM64)."""
    found: dict[str, dict[str, Any]] = {}
    for key, value in table.items():
        if "usd" in value:
            found[prefix + key] = value
        else:
            found |= flatten(value, f"{prefix}{key}.")
    return found


@dataclass(frozen=True)
class StackCost:
    """One stack's price: a fixed part per hour, plus its tasks (none for infrastructure)."""

    stack: str
    runs: str
    fixed: float = 0.0
    desired: int = 0
    most: int = 0
    vcpu: float = 0.0
    gb: float = 0.0
    architecture: str = "X86_64"  # the parameter file's cpu_architecture

    def per_hour(self, table: PriceTable, architecture: str | None, at_max: bool) -> float:
        """Return $/h on an architecture (None: the file's own), at desired or max capacity."""
        tasks = self.most if at_max else self.desired
        return self.fixed + tasks * table.task_hour(
            architecture or self.architecture, self.vcpu, self.gb
        )


def estimate(plan: Sequence[Stack], table: PriceTable) -> list[StackCost]:
    """Return the price of every stack `deploy` would build, in deploy order."""
    return [stack_cost(stack, table) for stack in plan]


def stack_cost(stack: Stack, table: PriceTable) -> StackCost:
    """Return one stack's price: network and platform by what they hold, services by tasks."""
    if stack.service is not None:
        return service_cost(stack.name, stack.service)
    if stack.template.name == "network.yaml":
        fixed = table.usd("nat_gateway_hour") + table.usd("public_ipv4_hour")
        return StackCost(stack.name, "NAT gateway + its public IPv4", fixed)
    fixed = (
        table.usd("alb_hour")
        + LCUS * table.usd("alb_lcu_hour")
        + ALB_ADDRESSES * table.usd("public_ipv4_hour")
        + PLATFORM_SECRETS * table.per_hour("secret_month")
        + table.per_hour("hosted_zone_month")
    )
    return StackCost(stack.name, "ALB + 1 LCU, 2 IPv4, secret, DNS zone", fixed)


def service_cost(name: str, p: ServiceParams) -> StackCost:
    """Return a service stack's price: its tasks, from desired count to the autoscaler's max."""
    most = p.autoscaling.max_capacity if p.autoscaling is not None else p.desired_count
    vcpu, gb = p.cpu / 1024, p.memory / 1024
    span = f"{p.desired_count}-{most}" if most != p.desired_count else f"{p.desired_count}"
    runs = f"{span} x {vcpu:g} vCPU / {gb:g} GB tasks"
    return StackCost(name, runs, 0.0, p.desired_count, most, vcpu, gb, p.cpu_architecture)


def report(
    costs: Sequence[StackCost], table: PriceTable, also_left_out: Sequence[str] = ()
) -> list[str]:
    """Return the cost table as lines: per stack, totals per hour and month, what is left out."""
    reads = sorted(p.read for p in table.prices.values())
    columns = [(arch, at_max) for arch in CPU_ARCHITECTURES for at_max in (False, True)]
    name_width = max(len(c.stack) for c in costs)
    left = name_width + 2 + max(len(c.runs) for c in costs)

    def row(label: str, cells: Sequence[str]) -> str:
        """Return one line: the label, then the cells two by two, one pair per architecture."""
        pairs = ["  ".join(cells[i : i + 2]) for i in range(0, len(cells), 2)]
        return f"{label:{left}}    " + "    ".join(pairs)

    def stack_label(c: StackCost) -> str:
        return f"{c.stack:{name_width}}  {c.runs}"

    totals = [sum(c.per_hour(table, a, m) for c in costs) for a, m in columns]
    lines = [
        *wrap(
            f"On-demand prices in {table.region} ({table.name}), USD, from infra/prices.toml "
            f"(read {reads[0]} to {reads[-1]}; each price names its source there)."
        ),
        "",
        f"{'':{left}}    " + "    ".join(f"{arch + ' $/h':^18}" for arch in CPU_ARCHITECTURES),
        row(f"{'stack':{name_width}}  runs", [f"{'desired':>8}", f"{'max':>8}"] * 2),
        *(
            row(stack_label(c), [f"{c.per_hour(table, a, m):8.4f}" for a, m in columns])
            for c in costs
        ),
        row("total per hour", [f"{t:8.4f}" for t in totals]),
        row(
            f"total per month ({table.hours_per_month} h)",
            [f"{t * table.hours_per_month:8.2f}" for t in totals],
        ),
        "",
    ]
    desired, most = (configured_total(costs, table, at_max) for at_max in (False, True))
    lines += wrap(
        f"As the parameter files say (each service's cpu_architecture): ${desired:.4f}/h "
        f"(${desired * table.hours_per_month:.2f}/month) at the desired counts, "
        f"${most:.4f}/h at the autoscalers' maximum."
    )
    lines += wrap("Left out: " + "; ".join([*also_left_out, *LEFT_OUT]) + ".")
    return [line.rstrip() for line in lines]


def wrap(text: str) -> list[str]:
    """Return a sentence broken into lines that fit a terminal."""
    return textwrap.wrap(text, width=WIDTH)


def configured_total(costs: Sequence[StackCost], table: PriceTable, at_max: bool) -> float:
    """Return $/h with every service on the architecture its parameter file names."""
    return sum(c.per_hour(table, None, at_max) for c in costs)
