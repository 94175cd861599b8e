"""`flaskpypi cache`: prune files cached from the upstream, and set a project's upstream overrides."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from ..core.records import utcnow
from ..core.views import parse_duration
from ..extensions import db
from ..index.cached import CacheIndex, cached_at
from ..settings import SettingsError
from ..upstream import FALLBACKS
from ..upstream.policy import FALLBACK_KEY, MERGE_KEY, MIN_AGE_EXEMPT_KEY


def _service() -> CacheIndex:
    runtime = current_app.extensions["flaskpypi"]
    return CacheIndex(db.session, runtime.storage, runtime.policy)


def _duration(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc))


@click.group("cache")
def cache() -> None:
    """Files cached from the upstream index."""


@cache.command("prune")
@click.option("--older-than", callback=_duration, help="Only files fetched longer ago than this (30d, 12h).")
@click.option("--project", "projects", multiple=True, help="Only this project (repeatable).")
@click.option("--all", "everything", is_flag=True, help="Every cached file (when no other option is given).")
@click.option("--dry-run", is_flag=True, help="Say what would go, remove nothing.")
@with_appcontext
def prune(older_than: int | None, projects: tuple[str, ...], everything: bool, dry_run: bool) -> None:
    """Remove cached files from storage and the index; they are fetched again when next asked for."""
    if older_than is None and not projects and not everything:
        raise click.UsageError("Say what to prune: --older-than, --project or --all.")
    before = utcnow() - timedelta(seconds=older_than) if older_than is not None else None
    service = _service()
    files = service.cached_files(before, projects)
    for f in files:
        click.echo(f"{'would remove' if dry_run else 'removing'} {f.project.name}/{f.filename} "
                   f"(cached {cached_at(f):%Y-%m-%d %H:%M})")  # fmt: skip
    if not dry_run:
        service.prune(files)
    click.echo(f"{len(files)} cached files {'would be ' if dry_run else ''}removed.")


@cache.command("project")
@click.argument("name")
@click.option(
    "--fallback", type=click.Choice([*FALLBACKS, "default"]), help="This project's mode (default: the config's)."
)
@click.option("--merge/--no-merge", default=None, help="Let a project with uploads also list the upstream's files.")
@click.option("--min-age-exempt/--no-min-age-exempt", default=None, help="Exempt from upstream_min_age.")
@with_appcontext
def project(name: str, fallback: str | None, merge: bool | None, min_age_exempt: bool | None) -> None:
    """Show or change a project's upstream overrides (stored with the project, restored by reindex)."""
    changes: dict[str, object] = {}
    if fallback is not None:
        changes[FALLBACK_KEY] = None if fallback == "default" else fallback
    if merge is not None:
        changes[MERGE_KEY] = merge or None
    if min_age_exempt is not None:
        changes[MIN_AGE_EXEMPT_KEY] = min_age_exempt or None
    service = _service()
    try:
        found = service.set_project_settings(name, changes) if changes else service.require_project(name)
    except SettingsError as exc:
        raise click.ClickException(str(exc))
    settings = {k: v for k, v in (found.settings or {}).items() if k in (FALLBACK_KEY, MERGE_KEY, MIN_AGE_EXEMPT_KEY)}
    click.echo(f"{found.name}: {settings or 'no upstream overrides'}")
