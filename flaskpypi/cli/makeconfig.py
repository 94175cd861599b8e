"""make-config: write a config file by asking questions (or from flags), like pypicloud-make-config."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import tomli_w
from werkzeug.security import generate_password_hash

from ..auth.passwords import check_strength
from ..core.plugins import STORAGE_GROUP, installed
from ..settings import CONFIG_FILENAME, FALLBACKS, Settings

ENVIRONMENTS = ("dev", "test", "prod")
STORAGES = ("file", "s3", "gcs", "azure")
STORAGE_SCHEMES = {"file": "file", "s3": "s3", "gcs": "gs", "azure": "az"}
PLUGIN_PACKAGES = {"s3": "flaskpypi-s3", "gcs": "flaskpypi-gcs", "azure": "flaskpypi-azure"}
DOWNLOADS = ("redirect", "stream")
DEFAULTS_BY_ENV = {
    "dev": {
        "default_read": ["everyone"],
        "default_write": ["authenticated"],
        "cache_update": ["authenticated"],
    },
    "test": {
        "default_read": ["everyone"],
        "default_write": ["authenticated"],
        "cache_update": ["authenticated"],
    },
    "prod": {
        "default_read": ["authenticated"],
        "default_write": ["authenticated"],
        "cache_update": ["authenticated"],
    },
}


@dataclass
class Asker:
    """Asks a question, or takes the flag's value; with --no-input a missing answer is an error."""

    interactive: bool

    def ask(
        self,
        given: Any,
        question: str,
        *,
        default: Any = None,
        choices: tuple[str, ...] | None = None,
        hide: bool = False,
        required: bool = True,
        check: Callable[[str], str | None] | None = None,
    ) -> Any:
        """The flag's value, else the answer; `check` says why a value is refused (None: accepted)."""
        if given is not None:
            if check and (problem := check(given)):
                raise click.BadParameter(problem, param_hint=repr(question))
            return given
        if not self.interactive:
            if default is not None or not required:
                return default
            raise click.UsageError(f"--no-input: give a value for {question!r}")
        kind = click.Choice(choices) if choices else None
        while True:
            answer = click.prompt(
                question,
                default=default,
                type=kind,
                hide_input=hide,
                confirmation_prompt=hide,
                show_default=not hide,
            )
            problem = check(answer) if check else None
            if not problem:
                return answer
            click.echo(f"Error: {problem}", err=True)


def _storage(asker: Asker, kind: str, opts: dict[str, Any], instance: Path) -> tuple[str, dict[str, Any]]:
    """The storage URL and options for the chosen backend, asking what each needs."""
    if kind == "file":
        path = asker.ask(opts["path"], "Directory for packages", default=str(instance / "packages"))
        return Path(path).resolve().as_uri(), {}
    scheme = STORAGE_SCHEMES[kind]
    if scheme not in installed(STORAGE_GROUP):
        click.echo(
            f"Note: the {kind} storage needs its plugin: pip install {PLUGIN_PACKAGES[kind]} (or 'flaskpypi[{kind}]').",
            err=True,
        )
    label = "Container" if kind == "azure" else "Bucket"
    bucket = asker.ask(opts["bucket"], label)
    prefix = asker.ask(opts["prefix"], "Prefix inside it (blank for none)", default="").strip("/")
    url = f"{scheme}://{bucket}" + (f"/{prefix}" if prefix else "")
    return url, CLOUD_QUESTIONS[kind](asker, opts)


def _s3_options(asker: Asker, opts: dict[str, Any]) -> dict[str, Any]:
    """Region, endpoint and credentials of an S3 (or S3-compatible) store."""
    options: dict[str, Any] = {}
    region = asker.ask(opts["region"], "Region (blank: from the AWS config)", default="")
    endpoint = asker.ask(opts["endpoint_url"], "Endpoint URL (blank: AWS itself)", default="")
    key = asker.ask(opts["access_key_id"], "Access key ID (blank: the standard AWS credential chain)", default="")
    if region:
        options["client_kwargs"] = {"region_name": region}
    if endpoint:
        options["endpoint_url"] = endpoint
    if key:
        options.update(key=key, secret=asker.ask(opts["secret_access_key"], "Secret access key", hide=True))
    else:
        click.echo("Credentials: the standard AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE "
                   "and ~/.aws, web identity, ECS task or EC2 instance role).")  # fmt: skip
    return options


def _gcs_options(asker: Asker, opts: dict[str, Any]) -> dict[str, Any]:
    """Project, credentials and endpoint of Google Cloud Storage."""
    options: dict[str, Any] = {}
    project = asker.ask(opts["gcp_project"], "Google Cloud project (blank: from the credentials)", default="")
    token = asker.ask(opts["credentials"], "Service-account JSON file (blank: application default credentials)",
                      default="")  # fmt: skip
    endpoint = asker.ask(opts["endpoint_url"], "Endpoint URL (blank: Google itself)", default="")
    if project:
        options["project"] = project
    if token:
        options["token"] = str(Path(token).expanduser().resolve())
    else:
        click.echo("Credentials: application default credentials (GOOGLE_APPLICATION_CREDENTIALS, "
                   "`gcloud auth application-default login`, or the metadata server). Only a service-account "
                   "key signs download URLs; without one, downloads stream through the server.")  # fmt: skip
    if endpoint:
        options["endpoint_url"] = endpoint
    return options


def _azure_options(asker: Asker, opts: dict[str, Any]) -> dict[str, Any]:
    """Account and credentials of Azure Blob Storage."""
    connection = asker.ask(opts["connection_string"], "Connection string (blank: account name and key or "
                           "Entra ID)", default="", hide=True)  # fmt: skip
    if connection:
        return {"connection_string": connection}
    options: dict[str, Any] = {"account_name": asker.ask(opts["account_name"], "Storage account name")}
    key = asker.ask(opts["account_key"], "Account key (blank: DefaultAzureCredential)", default="", hide=True)
    if key:
        options["account_key"] = key
    else:
        click.echo("Credentials: DefaultAzureCredential (AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, "
                   "workload or managed identity, `az login`). SAS download URLs need the account key; "
                   "without it, downloads stream through the server.")  # fmt: skip
    return options


CLOUD_QUESTIONS = {"s3": _s3_options, "gcs": _gcs_options, "azure": _azure_options}


def _offered() -> tuple[str, ...]:
    """The storages to choose from: local files, and each cloud whose plugin is installed."""
    have = installed(STORAGE_GROUP)
    return ("file", *(kind for kind in STORAGES[1:] if STORAGE_SCHEMES[kind] in have))


@click.command("make-config")
@click.option("--env", "env", type=click.Choice(ENVIRONMENTS), help="What the config is for.")
@click.option("--storage", type=click.Choice(STORAGES), help="Where packages are stored.")
@click.option("--path", help="file storage: the directory.")
@click.option("--bucket", help="s3/gcs: bucket; azure: container.")
@click.option("--prefix", help="Key prefix inside the bucket.")
@click.option("--region", help="s3: region.")
@click.option("--endpoint-url", help="s3: endpoint URL (MinIO, other S3-compatible stores); gcs: emulator.")
@click.option("--access-key-id", help="s3: access key (default: the standard AWS credential chain).")
@click.option("--secret-access-key", help="s3: secret key for --access-key-id.")
@click.option("--gcp-project", help="gcs: project.")
@click.option("--credentials", help="gcs: service-account JSON file.")
@click.option("--account-name", help="azure: storage account name.")
@click.option("--account-key", help="azure: account key (default: DefaultAzureCredential).")
@click.option("--connection-string", help="azure: connection string (instead of account name and key).")
@click.option(
    "--downloads",
    type=click.Choice(DOWNLOADS),
    help="cloud storage: redirect clients to signed URLs (default) or stream files through the server.",
)
@click.option("--database-url", help="SQLAlchemy URL (default: SQLite in the instance folder).")
@click.option("--admin-user", help="Admin user name.")
@click.option("--admin-password", help="Admin password (stored only as a hash).")
@click.option("--fallback", type=click.Choice(FALLBACKS), help="For projects the index does not hold.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Where to write the config.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("--no-input", is_flag=True, help="Ask nothing: take flags and defaults.")
def make_config(**opts: Any) -> None:
    """Write a flaskpypi config file (TOML) for dev, test or prod."""
    asker = Asker(interactive=not opts["no_input"])
    instance = Path(_instance_path())
    env = asker.ask(opts["env"], "What is this config for?", default="dev", choices=ENVIRONMENTS)
    kind = asker.ask(opts["storage"], "Where will packages be stored?", default="file", choices=_offered())
    storage_url, storage_options = _storage(asker, kind, opts, instance)
    downloads = "redirect" if kind == "file" else asker.ask(
        opts["downloads"], "Downloads: redirect to signed URLs, or stream through the server", default="redirect",
        choices=DOWNLOADS)  # fmt: skip
    database = asker.ask(opts["database_url"], "Database URL (blank: SQLite in the instance folder)", default="")
    admin = asker.ask(opts["admin_user"], "Admin username", default="admin")
    password = asker.ask(opts["admin_password"], "Admin password", hide=True, check=check_strength)
    fallback = asker.ask(opts["fallback"], "Fallback for projects not held here", default="none", choices=FALLBACKS)
    output = opts["output"] or instance / CONFIG_FILENAME
    if output.exists() and not opts["force"]:
        raise click.ClickException(f"{output} exists; use --force to overwrite it.")
    config = _config(env, storage_url, storage_options, database, admin, password, fallback)
    if downloads == "stream":
        config["stream_files"] = True
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(_render(env, config))
    output.chmod(0o600)
    click.echo(f"Wrote {output}")
    click.echo("A server that is already running reads its config only at start: restart it to use this one.")
    if output.resolve() != (instance / CONFIG_FILENAME).resolve():
        click.echo(f"Use it with: FLASKPYPI_CONFIG={output} flaskpypi run   (or gunicorn wsgi:app)")


def _instance_path() -> str:
    import os

    from ..settings import INSTANCE_ENV

    if os.environ.get(INSTANCE_ENV):
        return os.environ[INSTANCE_ENV]
    from flask import Flask

    return Flask("flaskpypi").instance_path


def _config(
    env: str,
    storage_url: str,
    storage_options: dict[str, Any],
    database: str,
    admin: str,
    password: str,
    fallback: str,
) -> dict[str, Any]:
    config: dict[str, Any] = {"storage_url": storage_url}
    if storage_options:
        config["storage_options"] = storage_options
    if database:
        config["database_url"] = database
    config.update(
        secret_key=secrets.token_urlsafe(48),
        admin_user=admin,
        admin_password_hash=generate_password_hash(password),
        fallback=fallback,
        **DEFAULTS_BY_ENV[env],
    )
    if env == "prod":
        config["allow_overwrite"] = False
    unknown = set(config) - set(Settings.names())
    assert not unknown, unknown
    return config


def _render(env: str, config: dict[str, Any]) -> str:
    header = (
        f"# flaskpypi config for {env}, written by `flaskpypi make-config`.\n"
        "# Every setting and its default is listed in the README; FLASKPYPI_<NAME> variables override these.\n"
    )
    return header + tomli_w.dumps(json.loads(json.dumps(config)))
