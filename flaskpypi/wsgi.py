"""The WSGI entry point of an installed flaskpypi: `gunicorn flaskpypi.wsgi:app`."""

from flaskpypi import create_app

app = create_app()
