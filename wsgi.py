"""The WSGI entry point of a checkout: `gunicorn wsgi:app` (an installed package: `gunicorn flaskpypi.wsgi:app`)."""

from flaskpypi.wsgi import app

__all__ = ["app"]
