"""reindex and upgrade-db: keep the SQL index in step with storage and the schema in step with the code."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from ..extensions import db
from ..index.hosted import hosted_indexes, rebuild_indexes
from ..index.migrate import REBUILD, start_lock, upgrade


@click.command("reindex")
@with_appcontext
def reindex() -> None:
    """Reconcile the metadata database with storage (the truth); safe while the server runs."""
    runtime = current_app.extensions["flaskpypi"]
    if runtime.rebuilt_at_start is not None:  # the database was empty: starting the app just rebuilt it
        projects, files = runtime.rebuilt_at_start
        click.echo(f"The database was empty and was rebuilt from {runtime.storage.describe()} as the app started.")
        click.echo(f"Indexed {projects} projects, {files} files.")
        return
    click.echo(f"Rebuilding the index from {runtime.storage.describe()} ...")
    engine, folder = db.engine, current_app.instance_path
    with start_lock(engine, folder, REBUILD, wait=0) as free:
        if not free:
            click.echo("Another rebuild is running (here or on another host); waiting for it ...", err=True)
    # One listing pass to count (pages of a thousand keys on object stores: cheap next to reading every
    # sidecar), so the bar has a total; the rebuild lists again, holding a batch or two in memory.
    total = sum(1 for _ in runtime.storage.iter_files())
    err = click.get_text_stream("stderr")
    with (
        start_lock(engine, folder, REBUILD),  # after another's, this one reconciles what changed since: quick
        click.progressbar(
            runtime.storage.iter_files(), length=total, label="Reading storage", show_pos=True, file=err
        ) as bar,  # fmt: skip
    ):
        indexes = hosted_indexes(db.session, runtime.layout.stored())
        projects, files = rebuild_indexes(db.session, runtime.storage, runtime.policy, indexes, bar)
        swept = runtime.storage.sweep_temporary()
    click.echo(f"Indexed {projects} projects, {files} files.")
    if swept:
        click.echo(f"Removed {swept} temporary files left by writers that died.")


@click.command("upgrade-db")
@with_appcontext
def upgrade_db() -> None:
    """Apply schema migrations (the server also does this when it starts)."""
    with start_lock(db.engine, current_app.instance_path):
        upgrade(db.engine)
    click.echo("The database schema is up to date.")
