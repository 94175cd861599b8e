"""gunicorn settings for `gunicorn wsgi:app` run from this folder (flags on the command line win)."""

import os

bind = "127.0.0.1:6543"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"  # threads keep connections alive: pip and uv reuse them for every page and file
threads = 4
timeout = 120  # large uploads and upstream fetches take a while
graceful_timeout = 10
