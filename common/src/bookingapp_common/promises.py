"""The numbers the README promises, in one place (standard library only: the master reads them).

Each setting's allowed range is derived from the promise it feeds (config.py), and the
counter, the page and the server are built to keep them. Change a promise here and the
ranges move with it; README.md's "The services" section says the same in words.
"""

from __future__ import annotations

# A visit waits at most this long for Redis in all, whatever happens on the wire; a page
# whose hit cannot be counted is answered 503 within 2 s (p99 with four times more clients
# than threads: the rest of the 2 s is queueing for a thread).
REDIS_WAIT_SECONDS = 1.0
# The pause before the one retry of a round trip that got no answer.
RETRY_PAUSE_SECONDS = 0.05
# Attempts that must fit in REDIS_WAIT_SECONDS: the first and one retry, so that a
# connection lost (a Redis restart, a failover) costs a visit nothing but a reconnect.
ATTEMPTS_PER_VISIT = 2
# Longest wait for one reply from Redis that still leaves room for the retry.
MAX_SOCKET_TIMEOUT_SECONDS = (
    REDIS_WAIT_SECONDS - (ATTEMPTS_PER_VISIT - 1) * RETRY_PAUSE_SECONDS
) / ATTEMPTS_PER_VISIT

# gunicorn's graceful stop: a request still in flight this long after the drain is killed.
GRACEFUL_STOP_SECONDS = 10
# ECS's stopTimeout (and compose's stop_grace_period): SIGKILL this long after SIGTERM.
STOP_TIMEOUT_SECONDS = 30
# The drain and the graceful stop must both end before SIGKILL, with a second to spare.
MAX_DRAIN_SECONDS = float(STOP_TIMEOUT_SECONDS - GRACEFUL_STOP_SECONDS - 1)

# What a page needs besides Redis and its neighbours: rendering, a moment's wait for a thread.
PAGE_SLACK_SECONDS = 1.0
# A home page waits for Redis, then for its neighbours: a page in flight at the end of the
# drain must still end inside the graceful stop.
MAX_NEIGHBOUR_TIMEOUT_SECONDS = GRACEFUL_STOP_SECONDS - REDIS_WAIT_SECONDS - PAGE_SLACK_SECONDS
