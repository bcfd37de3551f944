"""Redis's own counters: commands processed, round trips (writes), calls per command."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RedisCounters:
    """Redis's INFO counters, or how much they moved between two readings."""

    commands: float = 0.0  # total_commands_processed
    reads: float = 0.0  # total_reads_processed
    writes: float = 0.0  # total_writes_processed: one per reply sent, so one per round trip
    calls: dict[str, float] = field(default_factory=dict)  # INFO commandstats, per command

    @classmethod
    def from_stats(
        cls, stats: Mapping[str, float], calls: Mapping[str, float] | None = None
    ) -> RedisCounters:
        """Take the counters from INFO stats (as redis-py or parse_info gives them)."""
        return cls(
            commands=float(stats["total_commands_processed"]),
            reads=float(stats["total_reads_processed"]),
            writes=float(stats["total_writes_processed"]),
            calls=dict(calls or {}),
        )

    def minus(self, earlier: RedisCounters) -> RedisCounters:
        """Return how much each counter moved since the earlier reading."""
        return RedisCounters(
            commands=self.commands - earlier.commands,
            reads=self.reads - earlier.reads,
            writes=self.writes - earlier.writes,
            calls={name: n - earlier.calls.get(name, 0) for name, n in self.calls.items()},
        )


def parse_info(stats: str, commandstats: str) -> RedisCounters:
    """Read the counters from the text of `INFO stats` and `INFO commandstats`."""
    values = {k: float(v) for k, v in re.findall(r"^(\w+):([\d.]+)\r?$", stats, re.M)}
    calls = {
        command: float(n)
        for command, n in re.findall(r"^cmdstat_(\S+):calls=(\d+)", commandstats, re.M)
    }
    return RedisCounters.from_stats(values, calls)


def read_counters(redis_cli: Callable[..., str]) -> RedisCounters:
    """Read Redis's counters through a redis-cli runner."""
    return parse_info(redis_cli("INFO", "stats"), redis_cli("INFO", "commandstats"))


def per_hit(work: RedisCounters, hits: int, pick: Callable[[RedisCounters], float]) -> float:
    """Return one counter's movement per counted hit."""
    return pick(work) / hits
