"""gunicorn settings for `gunicorn wsgi:app` run from this folder: the package's production defaults
(flaskpypi/serving.py), with bind, workers and threads from the settings (FLASKPYPI_BIND, FLASKPYPI_WORKERS or
WEB_CONCURRENCY, FLASKPYPI_THREADS). Flags on the command line win."""

from flaskpypi.gunicorn_conf import *  # noqa: F403
