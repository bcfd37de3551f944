"""The framework's floor: the least a Flask app under our gunicorn settings can do per request.

One route answering one JSON line, no logging, headers, ids or Redis: what is left is Flask,
Werkzeug and gunicorn's gthread worker. bench/run.py serves it from the home image with the
home image's own gunicorn config (`python:bookingapp_common.gunicorn_conf`), CPU limit and
environment, so the gap between this and home's health path is what our per-request
machinery costs (docs/benchmark.md).
"""

from flask import Flask, Response

app = Flask(__name__)
BODY = b'{"status":"ok"}'


@app.get("/home/health")
def health() -> Response:
    """Answer one JSON line."""
    return Response(BODY, mimetype="application/json")
