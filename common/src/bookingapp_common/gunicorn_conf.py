"""gunicorn settings for a 0.5 vCPU / 1 GB Fargate task behind an ALB.

Loaded with `gunicorn -c python:bookingapp_common.gunicorn_conf`; the app to serve
comes from BOOKINGAPP_SERVICE, set by the image.
"""

import os

from bookingapp_common import drain

_service = os.environ.get("BOOKINGAPP_SERVICE", "home")
wsgi_app = f"bookingapp_{_service}:create_app()"

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
# gthread, not sync: the sync worker closes every connection, ignoring keep-alive.
worker_class = "gthread"
# Half a vCPU: two processes (one can serve while the other is descheduled), threads for I/O.
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Above the ALB's 60 s idle timeout: the load balancer must close idle connections first,
# or it reuses one the app just closed and answers 502 (PITFALLS 4).
keepalive = 75
# Drain, then stop (drain.py says why); drain + graceful timeout (15 + 10 s) stay inside
# ECS's 30 s stopTimeout and compose's stop_grace_period (PITFALLS 11). Requests here take
# milliseconds (a page waits at most ~1 s on its neighbours): 10 s to finish is ample.
_drain_seconds = float(os.environ.get("BOOKINGAPP_DRAIN_SECONDS", drain.DRAIN_SECONDS))
graceful_timeout = 10
timeout = 30
# The heartbeat file lives in memory: the root filesystem is read-only, /tmp may be slow disk.
worker_tmp_dir = "/dev/shm"  # noqa: S108 - shared memory, not a temp file
# Only the load balancer can reach the task (security group), so trust its X-Forwarded-*.
forwarded_allow_ips = "*"
# No control socket: the root fs is read-only and the user has no home (gunicorn >= 25.1).
control_socket_disable = True
# The app writes one JSON access line per request itself; gunicorn's would double it.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")


def when_ready(server):
    """Arm the drain on SIGTERM once the master is up."""
    drain.install(server, _drain_seconds)
