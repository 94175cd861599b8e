"""gunicorn settings for `gunicorn wsgi:app` run from this folder: the package's production defaults, with
bind, workers and threads from the settings (FLASKPYPI_BIND, ..., WEB_CONCURRENCY). Flags on the command line win."""

from flaskpypi.gunicorn_conf import *  # noqa: F403
