"""migrate: copy the packages and their sidecars from one storage to another (e.g. local files to S3)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..core.plugins import PluginError
from ..settings import SettingsError, load_settings, read_config_file
from ..storage import IntegrityError, Storage, load_storage
from ..storage.migrate import COPIED, Migration, Report
from .makeconfig import _instance_path


def _options(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}")
    if not isinstance(value, dict):
        raise click.BadParameter("expected a JSON object")
    return value


def resolve(spec: str | None, options_json: str | None, new_dir: bool = False) -> tuple[str, dict[str, Any]]:
    """(storage URL, options) from a config file, a storage URL, a directory, or (None) this server's config.

    new_dir: a path that does not exist yet (and is not a .toml file) is a directory to create.
    """
    options = _options(options_json)
    if spec is None:
        settings, _ = load_settings(_instance_path())
        return settings.storage_url, {**settings.storage_options, **options}
    path = Path(spec).expanduser()
    if "://" in spec:
        return spec, options
    if path.is_dir() or (new_dir and not path.exists() and path.suffix != ".toml"):
        return path.resolve().as_uri(), options
    if path.is_file():
        values = read_config_file(path)
        if not values.get("storage_url"):
            raise click.BadParameter(f"{spec} sets no storage_url; give the storage's URL or directory instead")
        stored = values.get("storage_options") or {}
        stored = json.loads(stored) if isinstance(stored, str) else dict(stored)
        return str(values["storage_url"]), {**stored, **options}
    raise click.BadParameter(f"{spec!r} is not a storage URL (scheme://...), a directory or a config file")


def _open_storage(spec: str | None, options_json: str | None, side: str) -> Storage:
    try:
        url, options = resolve(spec, options_json, new_dir=side == "to")
        return load_storage(url, options)
    except click.BadParameter as exc:
        exc.param_hint = f"--{side}"
        raise
    except (SettingsError, PluginError, ValueError, OSError) as exc:
        raise click.ClickException(f"--{side}: {exc}")


@click.command("migrate")
@click.option("--from", "source_spec", metavar="CONFIG|URL", help="Source: config file, storage URL or "
              "directory (default: this server's storage).")  # fmt: skip
@click.option("--to", "target_spec", metavar="CONFIG|URL", required=True, help="Target: config file, "
              "storage URL or directory.")  # fmt: skip
@click.option("--from-options", metavar="JSON", help="Storage options for a --from URL (JSON object).")
@click.option("--to-options", metavar="JSON", help="Storage options for a --to URL (JSON object).")
@click.option("-v", "--verbose", is_flag=True, help="Print each object copied or skipped.")
def migrate(source_spec: str | None, target_spec: str, from_options: str | None, to_options: str | None,
            verbose: bool) -> None:  # fmt: skip
    """Copy every file and sidecar to another storage, checking hashes; run again to resume.

    Objects the target already holds with the same sha256 are skipped, so an interrupted run
    picks up where it stopped and a finished one copies nothing. Run `flaskpypi reindex` on a
    server that uses the target to index it.
    """
    source = _open_storage(source_spec, from_options, "from")
    target = _open_storage(target_spec, to_options, "to")
    if source.describe() == target.describe() and source.options == target.options:
        raise click.ClickException(f"--from and --to are the same storage ({source.describe()})")
    click.echo(f"Copying from {source.describe()} to {target.describe()} ...")
    total = sum(1 for _ in source.iter_files())
    report = Report()
    migration = Migration(source, target)
    with click.progressbar(source.iter_files(), length=total, label="Copying", show_pos=True, file=sys.stderr,
                           item_show_func=lambda s: s.key if s else None) as bar:  # fmt: skip
        for stored in bar:
            try:
                outcome = migration.copy(stored)
            except IntegrityError as exc:
                report.failed.append((stored.key, str(exc)))
                click.echo(f"failed {stored.key}: {exc}", err=True)
                continue
            except Exception as exc:
                _summary(report)
                raise click.ClickException(f"stopped at {stored.key}: {exc}; run migrate again to resume")
            if outcome == COPIED:
                report.copied += 1
                report.bytes_copied += stored.size or 0
            else:
                report.skipped += 1
            if verbose:
                click.echo(f"{outcome} {stored.key}")
    _summary(report)
    if report.failed:
        raise click.ClickException(f"{len(report.failed)} objects failed their hash check (listed above)")
    click.echo(f"Done. Run `flaskpypi reindex` on a server that uses {target.describe()}.")


def _summary(report: Report) -> None:
    mib = report.bytes_copied / 1024 / 1024
    click.echo(f"Copied {report.copied} objects ({mib:.1f} MiB), skipped {report.skipped} already there, "
               f"{len(report.failed)} failed.")  # fmt: skip
