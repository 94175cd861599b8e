"""gunicorn settings for `gunicorn wsgi:app` run from this folder (flags on the command line win)."""

import os

bind = "127.0.0.1:6543"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"  # threads keep connections alive: pip and uv reuse them for every page and file
threads = 4
timeout = 120  # large uploads and upstream fetches take a while
# A gthread worker reads a request body lazily, when the app reads it (request.files): the app answers 401/403
# from the headers first and bounds the read by body_timeout/body_min_rate (flaskpypi settings). In production a
# buffering reverse proxy in front receives slow bodies instead of these threads (README, Production).
graceful_timeout = 10
