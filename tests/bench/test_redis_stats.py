"""Redis's INFO counters read into a named record, and how much they moved."""

from __future__ import annotations

from bench.redis_stats import RedisCounters, parse_info

STATS = (
    "# Stats\r\ntotal_connections_received:3\r\ntotal_commands_processed:120\r\n"
    "instantaneous_ops_per_sec:4\r\ntotal_reads_processed:80\r\ntotal_writes_processed:75\r\n"
)
COMMANDSTATS = (
    "# Commandstats\r\n"
    "cmdstat_evalsha:calls=30,usec=400,usec_per_call=13.33,rejected_calls=0,failed_calls=0\r\n"
    "cmdstat_info:calls=6,usec=90,usec_per_call=15.00,rejected_calls=0,failed_calls=0\r\n"
)


def test_parse_info_reads_commands_round_trips_and_calls_per_command():
    counters = parse_info(STATS, COMMANDSTATS)
    assert counters == RedisCounters(
        commands=120, reads=80, writes=75, calls={"evalsha": 30, "info": 6}
    )


def test_from_stats_takes_redis_py_integers_as_they_come():
    stats = {
        "total_commands_processed": 7,
        "total_reads_processed": 5,
        "total_writes_processed": 4,
        "keyspace_hits": 99,
    }
    assert RedisCounters.from_stats(stats) == RedisCounters(commands=7, reads=5, writes=4)


def test_minus_gives_each_counters_movement_including_commands_first_seen_later():
    before = RedisCounters(commands=100, reads=60, writes=50, calls={"info": 2})
    after = RedisCounters(commands=130, reads=70, writes=58, calls={"info": 4, "evalsha": 9})
    assert after.minus(before) == RedisCounters(
        commands=30, reads=10, writes=8, calls={"info": 2, "evalsha": 9}
    )
