"""`bookingapp-infra cost` prices what deploy would build, from the dated table in the repo.

What this proves: the quantities (tasks, NAT, ALB, addresses, secret, DNS zone) come from
the same plan deploy runs, every price in infra/prices.toml names a source and a date, and
the arithmetic per stack, per architecture and capacity adds up. What it does not: that
AWS still charges these prices (the table says when each was read, and from where).
"""

from __future__ import annotations

import dataclasses
import math
import re
import shutil
import tomllib
from datetime import date
from pathlib import Path

import pytest

from bookingapp_infra import cost
from bookingapp_infra.cli import main
from bookingapp_infra.errors import InputError
from bookingapp_infra.params import SERVICES_DIR, ServiceParams, load_all
from bookingapp_infra.stacks import plan
from tests.support import ROOT

# The range the review of issue 21 gave for the defaults in us-east-1, dollars per hour: the
# walk-through's apps and Redis, the services docs/deploy.md's quoted output lists.
REVIEWED_RANGE = (0.26, 0.29)
DOCS = ROOT / "docs" / "deploy.md"
# The `cost` output docs/deploy.md quotes, between its marker and the end of the block.
QUOTED = re.compile(
    r"<!-- cost-output -->\n```text\n\$ uv run bookingapp-infra cost\n(.*?)```", re.DOTALL
)


def quoted_output() -> str:
    """Return the `cost` output docs/deploy.md quotes."""
    (quoted,) = QUOTED.findall(DOCS.read_text(encoding="utf-8"))
    return quoted


def reviewed(directory: Path) -> Path:
    """Copy the parameter files of the services the quoted output prices into directory.

    Those are the ones the review priced; a service added since has its own stack line in
    `cost` but is in neither the review nor the docs' example.
    """
    stacks = re.findall(r"^bookingapp-(\S+) ", quoted_output(), re.MULTILINE)
    for name in stacks:
        if (SERVICES_DIR / f"{name}.toml").exists():
            shutil.copy(SERVICES_DIR / f"{name}.toml", directory)
    return directory


def priced(services: dict[str, ServiceParams], region: str = "us-east-1") -> list[cost.StackCost]:
    """Return the cost of each stack deploy would build from these services."""
    return cost.estimate(plan(services), cost.load_prices(region))


def test_the_defaults_cost_what_the_review_expected_in_us_east_1(tmp_path: Path) -> None:
    table = cost.load_prices()
    total = cost.configured_total(priced(load_all(reviewed(tmp_path))), table, at_max=False)
    assert REVIEWED_RANGE[0] <= total <= REVIEWED_RANGE[1]


def test_the_cost_command_prints_that_total_and_what_it_leaves_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--services-dir", str(reviewed(tmp_path)), "cost"]) == 0

    out = capsys.readouterr().out
    (hourly,) = re.findall(r"As the parameter files say .*?: \$(\d+\.\d{4})/h", out)
    assert REVIEWED_RANGE[0] <= float(hourly) <= REVIEWED_RANGE[1]
    flat = " ".join(out.split())
    for left_out in ("data transfer", "ALB LCUs above one", "Container Insights"):
        assert left_out in flat
    assert "us-east-1 (US East (N. Virginia))" in out


def test_each_stack_is_priced_from_what_it_runs(services: dict[str, ServiceParams]) -> None:
    table = cost.load_prices()
    by_stack = {c.stack: c for c in priced(services)}
    usd = table.usd
    assert by_stack["bookingapp-network"].fixed == usd("nat_gateway_hour") + usd("public_ipv4_hour")
    platform = by_stack["bookingapp-platform"].fixed
    expected = (
        usd("alb_hour")
        + usd("alb_lcu_hour")
        + 2 * usd("public_ipv4_hour")
        + (usd("secret_month") + usd("hosted_zone_month")) / table.hours_per_month
    )
    assert math.isclose(platform, expected)
    home = by_stack["bookingapp-home"]
    task = 0.5 * usd("fargate_vcpu_hour.X86_64") + 1.0 * usd("fargate_gb_hour.X86_64")
    assert math.isclose(home.per_hour(table, "X86_64", at_max=False), 2 * task)
    assert math.isclose(home.per_hour(table, "X86_64", at_max=True), 6 * task)
    redis = by_stack["bookingapp-redis"]
    assert redis.per_hour(table, "X86_64", True) == redis.per_hour(table, "X86_64", False)


def test_graviton_is_cheaper_and_the_maximum_dearer(services: dict[str, ServiceParams]) -> None:
    table = cost.load_prices()
    costs = priced(services)
    total = {
        (arch, at_max): sum(c.per_hour(table, arch, at_max) for c in costs)
        for arch in ("X86_64", "ARM64")
        for at_max in (False, True)
    }
    assert total[("ARM64", False)] < total[("X86_64", False)] < total[("X86_64", True)]
    assert total[("ARM64", True)] < total[("X86_64", True)]


def test_a_service_on_arm64_is_priced_on_arm64_as_configured(
    services: dict[str, ServiceParams],
) -> None:
    table = cost.load_prices()
    on_arm = {**services, "movie": dataclasses.replace(services["movie"], cpu_architecture="ARM64")}
    saved = cost.configured_total(priced(services), table, False) - cost.configured_total(
        priced(on_arm), table, False
    )
    task = cost.StackCost("x", "x", desired=2, vcpu=0.5, gb=1.0)
    assert math.isclose(
        saved, task.per_hour(table, "X86_64", False) - task.per_hour(table, "ARM64", False)
    )


def test_another_listed_region_uses_its_own_prices(services: dict[str, ServiceParams]) -> None:
    us, eu = cost.load_prices("us-east-1"), cost.load_prices("eu-west-1")
    assert eu.usd("nat_gateway_hour") != us.usd("nat_gateway_hour")
    network = {c.stack: c for c in priced(services, "eu-west-1")}["bookingapp-network"]
    assert network.fixed == eu.usd("nat_gateway_hour") + eu.usd("public_ipv4_hour")


def test_a_region_the_table_lacks_is_refused_naming_the_ones_it_has(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["cost", "--region", "ap-south-1"]) == 2

    err = capsys.readouterr().err
    assert "no prices for ap-south-1 in prices.toml (it lists us-east-1, eu-west-1)" in err
    assert err.count("\n") == 1


def test_a_table_missing_a_price_is_refused_not_guessed(tmp_path: Path) -> None:
    text = cost.PRICES_FILE.read_text(encoding="utf-8")
    broken = tmp_path / "prices.toml"
    broken.write_text(re.sub(r"(?m)^alb_lcu_hour = .*\n", "", text, count=1), encoding="utf-8")
    with pytest.raises(InputError, match="us-east-1 has no price for alb_lcu_hour"):
        cost.load_prices("us-east-1", broken)


def test_every_price_names_its_source_and_the_date_it_was_read() -> None:
    raw = tomllib.loads(cost.PRICES_FILE.read_text(encoding="utf-8"))
    for region, spec in raw["regions"].items():
        prices = cost.flatten(spec["prices"])
        assert sorted(prices) == sorted(cost.PRICE_KEYS), region
        for key, price in prices.items():
            assert isinstance(price["read"], date), (region, key)
            assert price["read"].year >= 2026, (region, key)
            assert price["source"].startswith(("https://", "AWS Price List API")), (region, key)
            assert len(price["via"]) > 20, (region, key)
            assert 0 < price["usd"] < 1, (region, key)


def test_docs_quote_the_cost_commands_output_verbatim(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/deploy.md replaces its hand arithmetic with the command's own words."""
    assert main(["--services-dir", str(reviewed(tmp_path)), "cost"]) == 0
    assert quoted_output() == capsys.readouterr().out


def test_every_service_has_its_own_line_and_the_total_adds_them(
    services: dict[str, ServiceParams], capsys: pytest.CaptureFixture[str]
) -> None:
    """With whatever services the repository has now, each stack is priced once."""
    assert main(["cost"]) == 0
    out = capsys.readouterr().out
    for stack in plan(services):
        assert len(re.findall(rf"^{stack.name} ", out, re.MULTILINE)) == 1, stack.name
