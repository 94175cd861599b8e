"""`flaskpypi serve`: the production server, gunicorn run through its custom-application API."""

from __future__ import annotations

import click

from ..serving import gunicorn_options, serving_settings
from ..settings import SettingsError


@click.command("serve")
@click.option("-b", "--bind", multiple=True, help="HOST:PORT or unix:PATH to listen on (setting: bind).")
@click.option("-w", "--workers", type=click.IntRange(min=1), help="worker processes (setting: workers).")
@click.option("--threads", type=click.IntRange(min=1), help="threads per worker (setting: threads).")
def serve(bind: tuple[str, ...], workers: int | None, threads: int | None) -> None:
    """Run the production server: gunicorn, gthread workers, keep-alive.

    The address, workers and threads come from the settings (FLASKPYPI_BIND, FLASKPYPI_WORKERS or
    WEB_CONCURRENCY, FLASKPYPI_THREADS) unless given here; any other gunicorn setting goes in
    GUNICORN_CMD_ARGS, e.g. GUNICORN_CMD_ARGS="--access-logfile -".
    """
    try:
        options = gunicorn_options(serving_settings())
    except SettingsError as exc:
        raise click.ClickException(str(exc))
    options.update({k: v for k, v in {"bind": list(bind), "workers": workers, "threads": threads}.items() if v})
    from .gunicorn_app import Server

    Server(options).run()
