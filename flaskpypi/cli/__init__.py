"""The `flaskpypi` command: Flask's run/shell/routes plus make-config, reindex and the admin commands."""

from __future__ import annotations

import os
import sys

import click
from flask import Flask
from flask.cli import FlaskGroup

from .. import create_app
from ..core.plugins import PluginError
from ..settings import SettingsError
from .access import COMMANDS as ACCESS_COMMANDS
from .cache import cache
from .indexing import reindex, upgrade_db
from .makeconfig import make_config
from .serve import serve
from .storage import migrate

DEFAULT_PORT = "6543"
APP_COMMANDS = [reindex, upgrade_db, *ACCESS_COMMANDS, cache, migrate]


def register_commands(app: Flask) -> None:
    """Commands reachable as `flask --app flaskpypi NAME` and `flaskpypi NAME`."""
    for command in [*APP_COMMANDS, make_config]:
        app.cli.add_command(command)


def _make_app() -> Flask:
    try:
        return create_app()
    except (SettingsError, PluginError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


@click.group(cls=FlaskGroup, create_app=_make_app, add_version_option=False, load_dotenv=False)
def cli() -> None:
    """flaskpypi: a private Python package index."""


cli.add_command(make_config)
cli.add_command(migrate)  # needs no app: it opens the storages it is given
cli.add_command(serve)  # the workers build the app


def main() -> None:
    """Console entry point; `flaskpypi run` listens on 6543 unless told otherwise."""
    os.environ.setdefault("FLASK_RUN_PORT", DEFAULT_PORT)
    cli.main(prog_name="flaskpypi")
