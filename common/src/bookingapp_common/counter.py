"""The hit counter: one Redis round trip per hit, shared by every instance of a service."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import Flask, current_app
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

EXTENSION = "bookingapp.counter"


class CounterUnavailable(Exception):
    """Redis did not answer in time; the message says where it was looked for."""


@dataclass(frozen=True)
class Hit:
    """The counts a request sees after its own hit was recorded."""

    hits: int
    instance_hits: int


class HitCounter:
    """Count hits per service and per instance in Redis."""

    def __init__(self, client: redis.Redis, service: str, instance: str) -> None:
        self.client = client
        self.instance = instance
        self.key = f"bookingapp:{service}:hits"
        self.instance_key = f"bookingapp:{service}:hits-by-instance"
        self.where = _describe(client)

    def hit(self) -> Hit:
        """Record one hit and return the counts including it, in one round trip."""
        # INCR returns the new value atomically, so there is no INCR-then-GET race; the
        # per-instance HINCRBY rides in the same pipeline, hence the same round trip.
        pipe = self.client.pipeline(transaction=False)
        pipe.incr(self.key)
        pipe.hincrby(self.instance_key, self.instance, 1)
        try:
            hits, instance_hits = pipe.execute()
        except redis.RedisError as error:
            raise CounterUnavailable(self._explain(error)) from error
        return Hit(hits=int(hits), instance_hits=int(instance_hits))

    def peek(self) -> int:
        """Return the service's hit count without counting a hit (a readiness probe)."""
        try:
            return int(self.client.get(self.key) or 0)
        except redis.RedisError as error:
            raise CounterUnavailable(self._explain(error)) from error

    def _explain(self, error: redis.RedisError) -> str:
        """Turn a Redis error into a sentence a person can act on."""
        if isinstance(error, redis.AuthenticationError):
            return f"the hit counter at {self.where} refused our credentials (check REDIS_PASSWORD)"
        return f"the hit counter at {self.where} is not answering ({type(error).__name__})"


def _describe(client: redis.Redis) -> str:
    """Return host:port of the client's Redis, for messages."""
    kwargs = client.connection_pool.connection_kwargs
    return f"{kwargs.get('host')}:{kwargs.get('port')}"


def make_client(config: dict) -> redis.Redis:
    """Build a Redis client whose every call gives up within about 2 seconds."""
    timeout = config["REDIS_SOCKET_TIMEOUT"]
    # Lazy: redis-py connects on first use, so start-up never waits for DNS or Redis
    # (PITFALLS 6). Timeouts + bounded retries make a dead Redis fail fast; the health check
    # interval re-validates idle pooled connections after Redis moved (PITFALLS 7).
    return redis.Redis(
        host=config["REDIS_HOST"],
        port=config["REDIS_PORT"],
        db=config["REDIS_DB"],
        password=config["REDIS_PASSWORD"],
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        socket_keepalive=True,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), config["REDIS_RETRIES"]),
    )


def init_app(app: Flask, service: str, instance: str) -> None:
    """Attach a hit counter for this service to the app."""
    app.extensions[EXTENSION] = HitCounter(make_client(app.config), service, instance)


def get_counter() -> HitCounter:
    """Return the current app's hit counter."""
    return current_app.extensions[EXTENSION]
