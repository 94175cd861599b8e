"""flaskpypi's production gunicorn settings as a config module: `gunicorn -c python:flaskpypi.gunicorn_conf
flaskpypi.wsgi:app` runs what `flaskpypi serve` runs (command-line flags and GUNICORN_CMD_ARGS still win)."""

from flaskpypi.serving import gunicorn_options, serving_settings

globals().update(gunicorn_options(serving_settings()))
