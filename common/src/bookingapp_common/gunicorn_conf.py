"""gunicorn settings for a 0.5 vCPU / 1 GB Fargate task behind an ALB.

Loaded with `gunicorn -c python:bookingapp_common.gunicorn_conf`; the app to serve
comes from BOOKINGAPP_SERVICE, set by the image.
"""

import os
import sys
from typing import Any

from gunicorn.glogging import Logger

from bookingapp_common import drain, logs
from bookingapp_common.promises import GRACEFUL_STOP_SECONDS
from bookingapp_common.startup import settings_or_exit

# Every setting, the app's and the service's name too, is checked here, in the master,
# before any worker forks: a bad one exits with one line and code 78 (startup.EXIT_CONFIG).
_settings = settings_or_exit(os.environ)
wsgi_app = f"bookingapp_{_settings.service}:create_app()"

bind = f"0.0.0.0:{_settings.port}"
# gthread, not sync: the sync worker closes every connection, ignoring keep-alive.
worker_class = "gthread"
# Half a vCPU: two processes (one can serve while the other is descheduled), threads for I/O.
workers = _settings.workers
threads = _settings.threads
# Above the ALB's 60 s idle timeout: the load balancer must close idle connections first,
# or it reuses one the app just closed and answers 502 (docs/pitfalls.md #4).
keepalive = 75
# Drain, then stop (drain.py says why); drain + graceful timeout (15 + 10 s) stay inside
# ECS's 30 s stopTimeout and compose's stop_grace_period (docs/pitfalls.md #11). Requests here take
# milliseconds (a page waits at most ~1 s on its neighbours): 10 s to finish is ample.
graceful_timeout = GRACEFUL_STOP_SECONDS
timeout = 30
# The heartbeat file lives in memory: the root filesystem is read-only, /tmp may be slow disk.
worker_tmp_dir = "/dev/shm"  # noqa: S108 - shared memory, not a temp file
# What the ALB forwards must reach the app, or gunicorn answers with a bare page of its own
# (no security headers, no request id, no access line). The ALB's quotas: request line 16 K,
# one header 16 K, the whole head 64 K (docs: "Quotas for your Application Load
# Balancers"). gunicorn caps an explicit limit_request_line at 8190, so 0 (no limit of its
# own): the ALB refuses longer lines before they reach a task.
limit_request_line = 0
# One field may be the whole 64 K head; the ALB appends the client's address to
# X-Forwarded-For, and its own headers (X-Forwarded-*, X-Amzn-Trace-Id), on top.
limit_request_field_size = 64 * 1024 + 1024
# 64 K of head holds up to ~16 000 four-byte fields ("a:1\r\n" and the like).
limit_request_fields = 16 * 1024 + 16
# Trusted proxy headers: only the app's ProxyFix reads X-Forwarded-For/Proto/Port (one hop,
# as the ALB and Traefik set them). gunicorn believes none: with its defaults, any peer's
# X-Forwarded-Ssl or X-Forwarded-Protocol contradicting the ALB's X-Forwarded-Proto made the
# page a 400, and a SCRIPT_NAME header moved the app's root.
secure_scheme_headers: dict[str, str] = {}
forwarder_headers = ""
# No control socket: the root fs is read-only and the user has no home (gunicorn >= 25.1).
control_socket_disable = True
# Logging: JSON lines on stdout only, the same format as the app's (bookingapp_common.logs).
# The app writes one JSON access line per request itself (with the request id); gunicorn's
# would double it. gunicorn's own messages (boot, worker timeouts, errors) become JSON too.
accesslog = None
loglevel = _settings.loglevel
logconfig_dict = logs.gunicorn_logconfig(loglevel)


class AccessLineByTheApp(Logger):  # type: ignore[misc]  # gunicorn is untyped
    """gunicorn's logger without its access line: the app writes one (logs.AccessLog)."""

    # A logconfig_dict turns gunicorn's access log on whatever `accesslog` says, and then
    # every request built its atoms and a LogRecord for a handler that discards them:
    # ~6 % of a health answer's time in a profile (docs/benchmark.md, "The per-request path").
    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """Write nothing: the app's own line has the request id and the problem."""


logger_class = AccessLineByTheApp


def when_ready(server: Any) -> None:  # gunicorn ships no types: its Arbiter
    """Arm the drain on SIGTERM once the master is up."""
    drain.install(server, _settings.drain_seconds)


def post_fork(server: Any, worker: Any) -> None:
    """With --reload (compose.override.yaml), let a new worker import the code as it is now.

    The master imported bookingapp_common above (settings, drain, logs) and a worker forks
    from it: without this, a worker started after an edit to those modules runs them as
    they were when the master started, though gunicorn logged that it reloaded. The drain
    stays: its flag is the master's memory, which a fresh import would not share.
    """
    if server.cfg.reload:
        for name in [n for n in sys.modules if n.split(".", 1)[0].startswith("bookingapp_")]:
            if name != drain.__name__:
                del sys.modules[name]


def post_worker_init(worker: Any) -> None:
    """Connect to Redis before this worker takes its first request (counter.warm says why)."""
    from bookingapp_common.counter import warm_up

    if not warm_up(worker.wsgi):
        worker.log.warning("Redis did not answer at worker start; visits will ask it themselves")
