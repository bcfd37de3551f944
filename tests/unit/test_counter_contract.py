"""The counter's contract: a 200 is counted once, a 503 is not counted, Redis down is said fast."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import redis

from bookingapp_common import _breaker, _counting, gunicorn_conf
from bookingapp_common import counter as counter_module
from bookingapp_common._breaker import PROBE_WAIT_SECONDS, Breaker
from bookingapp_common._counting import BATCH_MEMORY_MS, COUNT_SCRIPT
from bookingapp_common.config import DEFAULTS
from bookingapp_common.counter import (
    BUDGET_SECONDS,
    WARM_SECONDS,
    CounterUnavailable,
    Hit,
    HitCounter,
    make_client,
)
from bookingapp_home import create_app
from tests.support import free_port
from tests.unit.conftest import PASSWORD, app_config

JSON = {"Accept": "application/json"}


def counter_for(port: int, *, group_commit: bool = True) -> HitCounter:
    """Return a counter for service `svc`, instance `i-1`, on the Redis at a loopback port."""
    config = {**DEFAULTS, "REDIS_HOST": "127.0.0.1", "REDIS_PORT": port, "REDIS_PASSWORD": PASSWORD}
    return HitCounter(make_client(config), "svc", "i-1", group_commit=group_commit)


class ReplyDroppingProxy:
    """A TCP proxy to Redis that, once armed, lets one counting write through but loses its answer.

    That is the case a retry cannot see into: Redis executed the write, the client only
    knows the connection broke.
    """

    def __init__(self, redis_port: int, port: int = 0) -> None:
        self.redis_port = redis_port
        self.armed = threading.Event()
        self.dropped = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", port))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(("127.0.0.1", self.redis_port))
            lose = threading.Event()
            threading.Thread(
                target=self._requests, args=(client, upstream, lose), daemon=True
            ).start()
            threading.Thread(
                target=self._replies, args=(upstream, client, lose), daemon=True
            ).start()

    def _requests(
        self, client: socket.socket, upstream: socket.socket, lose: threading.Event
    ) -> None:
        while data := _recv(client):
            if self.armed.is_set() and (b"EVAL" in data or b"INCRBY" in data):
                self.armed.clear()
                lose.set()  # before Redis can answer
            upstream.sendall(data)
        upstream.close()

    def _replies(
        self, upstream: socket.socket, client: socket.socket, lose: threading.Event
    ) -> None:
        while data := _recv(upstream):
            if lose.is_set():
                self.dropped.set()
                client.shutdown(socket.SHUT_RDWR)  # the answer is lost with the connection
                client.close()
                return
            client.sendall(data)
        client.close()

    def close(self) -> None:
        """Stop taking connections."""
        self.listener.close()


def _recv(sock: socket.socket) -> bytes:
    """Read what is there; an empty result means the other side is gone."""
    try:
        return sock.recv(65536)
    except OSError:
        return b""


@pytest.fixture
def lossy_redis(redis_server) -> Iterator[ReplyDroppingProxy]:
    """A way to the test Redis that can lose one answer on demand."""
    proxy = ReplyDroppingProxy(redis_server.port)
    yield proxy
    proxy.close()


@pytest.mark.parametrize("group_commit", [True, False], ids=["group-commit", "per-hit"])
def test_a_write_whose_answer_was_lost_is_not_counted_twice(
    lossy_redis, redis_client, group_commit
):
    """The retry after a lost answer is recognised by Redis: the hit counts once, numbers agree."""
    counter = counter_for(lossy_redis.port, group_commit=group_commit)
    assert counter.hit() == Hit(hits=1, instance_hits=1)
    lossy_redis.armed.set()
    hit = counter.hit()
    assert lossy_redis.dropped.is_set()  # the answer really was lost, and the hit retried
    assert hit == Hit(hits=2, instance_hits=2)
    assert redis_client.get("bookingapp:svc:hits") == "2"
    assert redis_client.hget("bookingapp:svc:hits-by-instance", "i-1") == "2"
    assert counter.hit() == Hit(hits=3, instance_hits=3)


def fail_while_paused(counter: HitCounter, redis_server) -> None:
    """Pause Redis (connections hang), see a hit fail, wait out its sender, resume Redis."""
    redis_server.pause()
    try:
        with pytest.raises(CounterUnavailable):
            counter.hit()
        # Past the latest moment this process could still have been waiting for an answer.
        time.sleep(BUDGET_SECONDS + 0.6)
    finally:
        redis_server.resume()


def test_a_visit_answered_503_while_redis_is_paused_is_not_counted_later(
    redis_server, redis_client
):
    """Writes that reach Redis after their sender gave up are refused: a 503 is not a count."""
    counter = counter_for(redis_server.port)
    counter.hit()  # connected, script loaded
    fail_while_paused(counter, redis_server)
    assert redis_client.get("bookingapp:svc:hits") == "1"  # the queued writes ran, refused
    assert redis_client.hget("bookingapp:svc:hits-by-instance", "i-1") == "1"


def test_once_redis_is_known_down_hits_and_probes_fail_at_once(silent_port):
    """After one request waited for a silent Redis, the next ones are told so in milliseconds."""
    counter = counter_for(silent_port)
    with pytest.raises(CounterUnavailable):
        counter.hit()
    for call in (counter.hit, counter.ready) * 10:
        started = time.monotonic()
        with pytest.raises(CounterUnavailable, match=r"is not answering .* asked again every"):
            call()
        assert time.monotonic() - started < 0.05


def test_the_breaker_fails_fast_while_an_outage_is_fresh_and_forgets_it_after_a_quiet_spell(
    monkeypatch,
):
    """Known down: one probe per interval, the rest refused; unasked for an interval: closed."""
    now = [100.0]
    # Only the breaker module's own reference to `time` is replaced: a clock the test moves.
    monkeypatch.setattr(_breaker, "time", SimpleNamespace(monotonic=lambda: now[0]))
    breaker = Breaker(probe_interval=0.5, probe_budget=1.4)
    assert breaker.admit() is None  # closed
    breaker.failed("Redis is not answering")
    assert breaker.admit() == "Redis is not answering; Redis is asked again every 0.5 s"
    now[0] += 0.5
    assert breaker.admit() is None  # the probe
    assert breaker.admit() is not None  # others, while the probe is out (it never reports)
    breaker.failed("Redis is not answering")  # the probe failed: the knowledge is fresh again
    now[0] += 0.99  # a probe was due after 0.5 s; nobody came for almost another interval
    assert breaker.admit() is None  # the probe
    assert breaker.admit() is not None
    breaker.failed("Redis is not answering")
    now[0] += 1.0  # due after 0.5 s, and nobody came for a whole interval more: old news
    assert [breaker.admit() for _ in range(3)] == [None] * 3  # everyone goes to Redis again


def test_requests_during_a_probe_wait_briefly_for_its_answer(monkeypatch):
    """Redis back: those behind the probe go on with it; still down: they hear so at once."""
    now = [100.0]
    monkeypatch.setattr(_breaker, "time", SimpleNamespace(monotonic=lambda: now[0]))
    breaker = Breaker(probe_interval=0.5, probe_budget=1.4)

    def follow_a_probe(report) -> list[str]:
        """Let a probe out, have 3 callers arrive behind it, `report` its answer; say theirs."""
        now[0] += 0.5
        assert breaker.admit() is None  # the probe
        outcomes: list[str] = []

        def follow() -> None:
            outcomes.append(breaker.admit() or "admitted")

        followers = [threading.Thread(target=follow) for _ in range(3)]
        for follower in followers:
            follower.start()
        time.sleep(0.05)  # they are waiting on the probe (at most PROBE_WAIT_SECONDS)
        report()
        for follower in followers:
            follower.join(timeout=5)
        return outcomes

    breaker.failed("down")
    assert follow_a_probe(breaker.succeeded) == ["admitted"] * 3
    breaker.failed("down")
    refused = ["still down; Redis is asked again every 0.5 s"] * 3
    assert follow_a_probe(lambda: breaker.failed("still down")) == refused
    # A probe that does not report: the others wait PROBE_WAIT_SECONDS, then fail fast.
    now[0] += 0.5
    assert breaker.admit() is None
    started = time.monotonic()
    assert breaker.admit() == "still down; Redis is asked again every 0.5 s"
    assert PROBE_WAIT_SECONDS * 0.9 <= time.monotonic() - started < PROBE_WAIT_SECONDS + 1


def test_the_breaker_says_once_when_it_opens_and_once_when_it_closes(caplog):
    """Operators see the transitions in the log, not a line per refused request."""
    breaker = Breaker(probe_interval=0.5, probe_budget=1.4)
    with caplog.at_level("INFO", logger="bookingapp.counter"):
        breaker.failed("the hit counter at h:1 is not answering (TimeoutError)")
        breaker.failed("the hit counter at h:1 is not answering (ConnectionError)")
        breaker.succeeded()
        breaker.succeeded()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            "Redis is taken as down: the hit counter at h:1 is not answering (TimeoutError); "
            "failing fast, asking again every 0.5 s",
        ),
        ("INFO", "Redis is asked again by every request (Redis answered)"),
    ]


def test_a_flushed_script_cache_is_reloaded_without_losing_a_hit(redis_server, redis_client):
    """After SCRIPT FLUSH (a restarted Redis), EVALSHA's NOSCRIPT falls back to EVAL once."""
    counter = counter_for(redis_server.port)
    counter.hit()
    redis_client.script_flush()
    assert counter.hit() == Hit(hits=2, instance_hits=2)
    assert redis_client.get("bookingapp:svc:hits") == "2"


def script_calls(client: redis.Redis) -> dict[str, int]:
    """Return how many EVALSHA and EVAL calls Redis has executed so far."""
    stats = client.info("commandstats")
    return {name: stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("evalsha", "eval")}


@pytest.mark.parametrize("group_commit", [True, False], ids=["group-commit", "per-hit"])
def test_the_script_is_sent_whole_once_then_named_by_its_sha(
    redis_server, redis_client, group_commit
):
    """EVALSHA first; one EVAL after NOSCRIPT (a flushed or new Redis), EVALSHA again after."""
    redis_client.script_flush()
    counter = counter_for(redis_server.port, group_commit=group_commit)
    before = script_calls(redis_client)
    for _ in range(3):
        counter.hit()
    after = script_calls(redis_client)
    # The first EVALSHA meets NOSCRIPT (still a call), then EVAL loads it; then EVALSHA only.
    assert (after["evalsha"] - before["evalsha"], after["eval"] - before["eval"]) == (3, 1)
    counter.hit()
    assert script_calls(redis_client) == {**after, "evalsha": after["evalsha"] + 1}


def test_a_process_keeps_one_batch_record_per_instance_that_expires(redis_server, redis_client):
    """Group commit: one record per process, rewritten by each batch, gone after BATCH_MEMORY_MS."""
    counter = counter_for(redis_server.port)
    for _ in range(3):
        counter.hit()
    [record] = redis_client.keys("bookingapp:svc:hits:batches:*")
    assert record.startswith("bookingapp:svc:hits:batches:i-1:")
    assert redis_client.get(record).split() == ["3", "3", "3"]  # batch id, hits, mine
    assert 0 < redis_client.pttl(record) <= BATCH_MEMORY_MS
    # Another process (another token) of the same instance keeps its own record.
    counter_for(redis_server.port).hit()
    assert len(redis_client.keys("bookingapp:svc:hits:batches:i-1:*")) == 2


def test_without_group_commit_each_hit_is_a_batch_of_its_own_in_the_process_record(
    redis_server, redis_client
):
    """One script call per hit, each its own numbered batch; one record for the process.

    Batches go out one at a time on the wire, so the record of the last one is all a resend
    needs: an earlier copy is older than the record and refused (STALE), never counted.
    """
    counter = counter_for(redis_server.port, group_commit=False)
    before = script_calls(redis_client)
    for _ in range(3):
        counter.hit()
    after = script_calls(redis_client)
    assert after["evalsha"] + after["eval"] - before["evalsha"] - before["eval"] >= 3
    [record] = redis_client.keys("bookingapp:svc:hits:batches:i-1:*")
    assert redis_client.get(record).split() == ["3", "3", "3"]  # batch 3, hits, mine


def test_a_forked_worker_names_its_batches_afresh(redis_server, redis_client, monkeypatch):
    """After a fork (another pid) the process token changes: no batch name is shared."""
    counter = counter_for(redis_server.port)
    counter.hit()
    [parent] = redis_client.keys("bookingapp:svc:hits:batches:i-1:*")
    monkeypatch.setattr(_counting.os, "getpid", lambda: -1)
    counter.hit()
    records = set(redis_client.keys("bookingapp:svc:hits:batches:i-1:*"))
    assert parent in records
    assert len(records) == 2


def test_ready_is_503_with_a_clear_reason_in_the_log_when_the_count_is_not_a_number(
    redis_server, redis_client, access_log
):
    """A key holding a non-integer makes /ready 503, never a 500 with a traceback.

    Pages could not count either; the log line says what Redis answered.
    """
    redis_client.set("bookingapp:home:hits", "twelve")
    response = create_app(app_config(redis_server.port)).test_client().get("/home/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert (body["service"], body["instance"]) == ("home", "test-instance")
    (line,) = access_log
    assert "answered with an error: value is not an integer" in line.problem
    assert "bookingapp:home:hits" in line.problem


def test_an_error_reply_is_not_called_not_answering(redis_server, redis_client, access_log):
    """The 503's log line says Redis answered with an error, and which, when that happened."""
    redis_client.hset("bookingapp:home:hits", "wrong", "type")
    response = create_app(app_config(redis_server.port)).test_client().get("/home", headers=JSON)
    assert response.status_code == 503
    (line,) = access_log
    assert "answered with an error: WRONGTYPE" in line.problem
    assert "not answering" not in line.problem
    assert "WRONGTYPE" not in response.get_data(as_text=True)


def test_a_visit_answered_503_leaves_both_counts_unchanged(redis_server, redis_client):
    """The written contract: a page answered 503 did not count, neither overall nor per instance."""
    redis_client.hset("bookingapp:home:hits-by-instance", "test-instance", "oops")
    client = create_app(app_config(redis_server.port)).test_client()
    assert [client.get("/home").status_code for _ in range(3)] == [503] * 3
    assert redis_client.get("bookingapp:home:hits") is None


@pytest.mark.parametrize("skew", [-30.0, 30.0], ids=["our-clock-behind", "our-clock-ahead"])
def test_a_skewed_host_clock_neither_refuses_nor_admits_late_writes(
    redis_server, redis_client, monkeypatch, skew
):
    """The deadline is put on Redis's clock (measured with TIME), so 30 s of skew changes nothing."""
    real_time = time.time
    monkeypatch.setattr(counter_module.time, "time", lambda: real_time() + skew)
    counter = counter_for(redis_server.port)
    assert [counter.hit().hits for _ in range(3)] == [1, 2, 3]
    fail_while_paused(counter, redis_server)
    assert redis_client.get("bookingapp:svc:hits") == "3"


def test_a_stale_copy_of_an_earlier_batch_is_never_applied(redis_client):
    """A resend of batch 5 that reaches Redis after batch 6 was applied counts nothing."""
    keys = ("c:hits", "c:by-instance", "c:batches:i-1:token")
    far = int((time.time() + 60) * 1000)

    def send(batch: int, size: int):
        return redis_client.eval(COUNT_SCRIPT, 3, *keys, size, "i-1", batch, far, 10_000)

    assert send(5, 2) == [2, 2]
    assert send(5, 2) == [2, 2]  # the same batch again: recognised, same numbers
    assert send(6, 3) == [5, 5]
    with pytest.raises(redis.ResponseError, match="STALE"):
        send(5, 2)
    assert redis_client.get("c:hits") == "5"
    assert redis_client.hget("c:by-instance", "i-1") == "5"


def test_warming_up_connects_before_the_first_visit(redis_server, redis_client):
    """warm() opens the connection and learns Redis's clock: the first hit is one round trip."""
    counter = counter_for(redis_server.port)
    assert counter.warm() is True
    before = redis_client.info("stats")["total_connections_received"]
    counter.hit()
    assert redis_client.info("stats")["total_connections_received"] == before  # no new connect
    assert redis_client.get("bookingapp:svc:hits") == "1"


def test_warming_up_against_a_silent_redis_gives_up_in_time_and_opens_no_breaker(silent_port):
    """A silent Redis at start costs the worker at most WARM_SECONDS, and visits still ask."""
    counter = counter_for(silent_port)
    started = time.monotonic()
    assert counter.warm() is False
    assert time.monotonic() - started < WARM_SECONDS + 0.5
    started = time.monotonic()
    with pytest.raises(CounterUnavailable):
        counter.hit()  # asked Redis itself (waited), not told at once by an open breaker
    assert time.monotonic() - started > 0.3


def test_warming_up_keeps_trying_while_redis_is_still_starting(redis_server, redis_client):
    """A Redis that starts a moment after the worker is still met within WARM_SECONDS."""
    # Nothing listens on the port for 0.3 s, then Redis does (through a plain proxy): the
    # same for a redis-server process and a container, whose restart takes longer than that.
    port = free_port()
    counter = counter_for(port)
    proxies: list[ReplyDroppingProxy] = []
    starting = threading.Timer(
        0.3, lambda: proxies.append(ReplyDroppingProxy(redis_server.port, port))
    )
    starting.start()
    try:
        assert counter.warm() is True
    finally:
        starting.join()
    counter.hit()
    assert redis_client.get("bookingapp:svc:hits") == "1"
    proxies[0].close()


def test_warming_up_while_the_counter_is_busy_says_it_did_not(redis_server):
    """If the counter's connection stays taken for the whole warm-up, warm() reports False."""
    counter = counter_for(redis_server.port)
    with counter._wire.lock:  # a round trip in flight on the one connection
        assert counter.warm(seconds=0.2) is False
    assert counter.warm() is True


def test_gunicorn_warms_each_worker_up_before_it_serves(monkeypatch):
    """The config's post_worker_init hook warms the counter of the worker's app."""
    calls: list[object] = []

    class Log:
        def warning(self, *args: object) -> None:
            calls.append(args)

    class Worker:
        wsgi = create_app(app_config(1))
        log = Log()

    monkeypatch.setattr(counter_module.HitCounter, "warm", lambda self: calls.append(self) or True)
    gunicorn_conf.post_worker_init(Worker())
    assert calls == [Worker.wsgi.extensions[counter_module.EXTENSION]]
