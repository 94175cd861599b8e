"""`flaskpypi promote PROJECT[==VERSION] --from INDEX --to INDEX`: copy releases between hosted indexes."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from ..core.errors import InvalidName, Refusal
from ..core.names import canonical, validate_project_name
from ..extensions import db
from ..index.promote import PROMOTED, Promoter
from ..index.service import IndexService
from .output import emit, json_option


def parse_requirement(text: str) -> tuple[str, str | None]:
    """`PROJECT==VERSION` or `PROJECT` (every version); BadParameter for anything else."""
    name, sep, version = (part.strip() for part in text.partition("=="))
    try:
        validate_project_name(name)
    except InvalidName as exc:
        raise click.BadParameter(f"{text!r}: give PROJECT==VERSION, or PROJECT for every version ({exc})") from None
    if sep and not version:
        raise click.BadParameter(f"{text!r}: give the version after '=='")
    return canonical(name), (version or None)


@click.command("promote")
@click.argument("requirement")
@click.option("--from", "source", required=True, help="the hosted index that holds the release now")
@click.option("--to", "target", required=True, help="the hosted index to copy it to")
@json_option
@with_appcontext
def promote(requirement: str, source: str, target: str, as_json: bool) -> None:
    """Copy PROJECT==VERSION (or every version of PROJECT) to another hosted index: the same bytes and
    hashes, with core metadata and provenance; files already there with the same bytes are left alone."""
    runtime = current_app.extensions["flaskpypi"]
    hosted = runtime.layout.hosted()
    for name in (source, target):
        if name not in hosted:
            raise click.BadParameter(f"{name!r} is not a hosted index; hosted indexes: {', '.join(hosted)}")
    project, version = parse_requirement(requirement)
    services = [IndexService(db.session, runtime.storage, runtime.policy, name) for name in (source, target)]
    try:
        done = Promoter(*services).promote(project, version, "cli")
    except Refusal as exc:
        raise click.ClickException(str(exc)) from None
    rows = [{"filename": d.filename, "sha256": d.sha256, "outcome": d.outcome} for d in done]
    emit(rows, ["filename", "outcome", "sha256"], as_json)
    if not as_json:
        count = sum(1 for d in done if d.outcome == PROMOTED)
        click.echo(f"Promoted {count} of {len(done)} files from {source!r} to {target!r}.")
