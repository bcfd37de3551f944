"""bench/cpu_split.py: the arithmetic of the readings (no Docker, no run)."""

from __future__ import annotations

import pytest

from bench import cpu_split
from bench.containers import cpu_stat_seconds
from bench.cpu_split import Reading


def test_host_busy_leaves_out_idle_and_iowait(monkeypatch):
    monkeypatch.setattr(cpu_split, "TICKS", 100)
    # user nice system idle iowait irq softirq steal guest guest_nice
    line = "cpu  100 20 30 4000 500 6 7 8 90 9"
    assert cpu_split.host_busy_seconds(line) == pytest.approx((100 + 20 + 30 + 6 + 7 + 8) / 100)


def test_the_report_is_the_differences_over_the_run_and_the_rest_what_is_left():
    before = Reading(busy=10.0, containers=5.0)
    after = Reading(busy=61.0, containers=28.0)
    line = cpu_split.split(before, after, command_tree=12.0, wall=71.0)
    assert line == (
        "wall 71 s | host busy 51.0 cpu-s (0.72 of a core) | containers 23.0 | "
        "the command's tree 12.0 | the rest (Docker's daemons and runc, the kernel) 16.0"
    )


def test_without_container_cgroups_the_report_says_so():
    line = cpu_split.split(Reading(0.0, None), Reading(5.0, None), command_tree=2.0, wall=10.0)
    assert "containers n/a (no container cgroups on this host)" in line
    assert line.endswith("the kernel) 3.0")


def test_no_command_prints_the_usage_and_exits_2(capsys):
    assert cpu_split.main(["--"]) == 2
    assert "python -m bench.cpu_split" in capsys.readouterr().err


def test_a_v2_cpu_stat_is_read_as_seconds_and_one_without_usage_as_none():
    assert cpu_stat_seconds("usage_usec 2500000\nuser_usec 2000000\n") == pytest.approx(2.5)
    assert cpu_stat_seconds("user_usec 2000000\n") is None
