"""The baseline to beat: a single-file Flask + Redis counter as the classic tutorials write it.

Deliberately the common pattern, not ours: a module-level client, INCR then GET (two round
trips, and a race between them), run on Flask's development server. Only `debug` is off,
which is the kinder choice for the baseline (the reloader and debugger cost more).
"""

import os

from flask import Flask
from redis import Redis

app = Flask(__name__)
redis = Redis(
    host=os.environ.get("REDIS_HOST", "redis"),
    port=int(os.environ.get("REDIS_PORT", "6379")),
    password=os.environ.get("REDIS_PASSWORD"),
)


@app.route("/")
def hello() -> str:
    """Count the visit, then read the count back."""
    redis.incr("hits")
    count = int(redis.get("hits"))
    return f"Hello World! I have been seen {count} times.\n"


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000)  # noqa: S104 - inside a container, as the tutorials do
