"""The benchmark scripts and the small modules they share, one concern each.

containers: building, starting, timing and removing what is measured; load: wrk runs and
what each one cost; redis_stats: Redis's command and round-trip counters; report: the
arithmetic over rounds (medians, ratios) and the markdown tables.
"""
