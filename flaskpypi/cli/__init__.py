"""The `flaskpypi` command: Flask's run/shell/routes plus make-config, reindex and the admin commands."""

from __future__ import annotations

import os

import click
import sqlalchemy.exc
from flask import Flask
from flask.cli import FlaskGroup
from flask.helpers import get_debug_flag
from sqlalchemy.exc import DBAPIError

from .. import create_app
from ..core.plugins import PluginError
from ..settings import SettingsError
from .access import COMMANDS as ACCESS_COMMANDS
from .cache import cache
from .indexing import reindex, upgrade_db
from .makeconfig import make_config
from .promote import promote
from .serve import serve
from .storage import migrate
from .views import index, view

DEFAULT_PORT = "6543"
APP_COMMANDS = [reindex, upgrade_db, *ACCESS_COMMANDS, cache, migrate, index, view, promote]


def register_commands(app: Flask) -> None:
    """Commands reachable as `flask --app flaskpypi NAME` (`flaskpypi NAME` finds them without the app)."""
    for command in [*APP_COMMANDS, make_config]:
        app.cli.add_command(command)


def _make_app() -> Flask:
    return create_app()


def describe_failure(exc: BaseException) -> str:
    """One line for an operator: what failed, and what to check (the traceback is for --debug)."""
    if isinstance(exc, SettingsError | PluginError):
        return str(exc)
    if isinstance(exc, DBAPIError | sqlalchemy.exc.ArgumentError | sqlalchemy.exc.NoSuchModuleError):
        orig = getattr(exc, "orig", None) or exc
        first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        return f"The database failed: {first}. Check database_url and that the database server is reachable."
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}. Check the paths and permissions in the settings."
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else 'no detail'}"


class Group(FlaskGroup):
    """Flask's group, except that listing commands (`--help`) never builds the app: nothing is created,
    migrated or logged until a command that needs the index runs; and a failure prints one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return sorted(click.Group.list_commands(self, ctx))

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except Exception as exc:
            if ctx.find_root().params.get("debug") or get_debug_flag():
                raise
            click.echo(f"Error: {describe_failure(exc)} (--debug shows the traceback)", err=True)
            ctx.exit(1)


@click.group(cls=Group, create_app=_make_app, add_version_option=False, load_dotenv=False)
@click.version_option(package_name="flaskpypi", prog_name="flaskpypi", message="%(prog)s %(version)s")
def cli() -> None:
    """flaskpypi: a private Python package index."""


for _command in [*APP_COMMANDS, make_config, migrate, serve]:
    cli.add_command(_command)


def main() -> None:
    """Console entry point; `flaskpypi run` listens on 6543 unless told otherwise."""
    os.environ.setdefault("FLASK_RUN_PORT", DEFAULT_PORT)
    cli.main(prog_name="flaskpypi")
