"""The WSGI entry point: `gunicorn wsgi:app`."""

from flaskpypi import create_app

app = create_app()
