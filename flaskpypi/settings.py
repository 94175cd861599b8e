"""One settings model: built-in defaults, then the config file, then FLASKPYPI_* environment variables."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from .core.views import Layout, ViewConfigError, build_layout, parse_duration

log = logging.getLogger(__name__)
ENV_PREFIX = "FLASKPYPI_"
CONFIG_ENV = "FLASKPYPI_CONFIG"
INSTANCE_ENV = "FLASKPYPI_INSTANCE_PATH"
CONFIG_FILENAME = "flaskpypi.toml"
FALLBACKS = ("none", "redirect", "cache", "mirror")
_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


class SettingsError(Exception):
    """A setting that is unknown or malformed; the message names it."""


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _as_size(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError("expected a size such as 100M or 1G")
    return int(match.group(1)) * 1024 ** "_kmgt".index((match.group(2) or "_").lower())


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    parsed = json.loads(value) if str(value).strip() else {}
    if not isinstance(parsed, dict):
        raise ValueError("expected a JSON object")
    return parsed


def _as_str(value: Any) -> str:
    if isinstance(value, dict | list):
        raise ValueError("expected a string")
    return str(value)


def _choice(*allowed: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return text

    return parse


def _at_least(low: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        number = int(value)
        if number < low:
            raise ValueError(f"expected a whole number of at least {low}")
        return number

    return parse


def _setting(default: Any, parse: Callable[[Any], Any], doc: str) -> Any:
    factory = (lambda: type(default)(default)) if isinstance(default, list | dict) else None
    meta = {"parse": parse, "doc": doc}
    if factory:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class Settings:
    """Every setting flaskpypi reads; names are the config-file keys, FLASKPYPI_<NAME> in the environment."""

    storage_url: str = _setting(
        "",
        _as_str,
        "fsspec URL of the package storage; its scheme picks the plugin. Default: file://<instance>/packages",
    )
    storage_options: dict = _setting({}, _as_dict, "JSON object of options passed to the storage plugin")
    database_url: str = _setting(
        "", _as_str, "SQLAlchemy URL of the metadata database. Default: SQLite in the instance folder"
    )
    secret_key: str = _setting(
        "",
        _as_str,
        "signs sessions and CSRF tokens; every host must share it. Required with any database but SQLite "
        "(several hosts); with SQLite, generated once into <instance>/secret_key",
    )
    admin_user: str = _setting("", _as_str, "name of the admin user defined in the config")
    admin_password: str = _setting("", _as_str, "the admin's password in clear (prefer admin_password_hash)")
    admin_password_hash: str = _setting(
        "", _as_str, "the admin's password hash (werkzeug format, as make-config writes)"
    )
    auth_backend: str = _setting("config", _as_str, "auth plugin (entry point in flaskpypi.auth): config or sql")
    default_read: list = _setting(
        ["everyone"], _as_list, "who may read projects without a grant: everyone, authenticated, group names"
    )
    default_write: list = _setting(["authenticated"], _as_list, "who may upload to projects without a grant")
    cache_update: list = _setting(["authenticated"], _as_list, "who may make the index fetch a file from upstream")
    auth_options: dict = _setting(
        {}, _as_dict, "JSON object of options passed to the auth plugin (e.g. the LDAP server and DNs)"
    )
    users: dict = _setting(
        {}, _as_dict, "config auth plugin: user name -> password hash (`flaskpypi hash-password` prints one)"
    )
    groups: dict = _setting({}, _as_dict, "config auth plugin: group name -> list of member user names")
    grants: dict = _setting(
        {}, _as_dict, 'config auth plugin: project -> {"user:NAME" or "group:NAME": "read" or "write"}'
    )
    index_grants: dict = _setting(
        {},
        _as_dict,
        'config auth plugin: [index_grants.<index>] "user:NAME" or "group:NAME" = "read", "write", "promote" '
        "or a list of them",
    )
    admins: list = _setting(
        [], _as_list, "admins besides admin_user: user names, or group:NAME for every member of a group"
    )
    registration: str = _setting(
        "closed",
        _choice("closed", "approval"),
        "self-registration (sql plugin): closed, or approval (new users wait as pending until an admin approves)",
    )
    login_window: int = _setting(300, int, "seconds over which failed logins are counted")
    login_limit_user: int = _setting(5, int, "failed logins allowed per user from one address in the window; then 429")
    login_limit_address: int = _setting(
        20, int, "failed logins allowed from one address (any user) in the window; then 429"
    )
    login_limit_user_total: int = _setting(
        100, int, "failed logins allowed per user from all addresses in the window; then 429 for that user"
    )
    indexes: dict = _setting(
        {},
        _as_dict,
        "[indexes.<name>] tables: type = hosted or upstream (url, username, password, mode, ttl); "
        "the built-in hosted index is 'default'",
    )
    views: dict = _setting(
        {},
        _as_dict,
        "[views.<name>] tables: members (index names or tables with allow, deny, pin, versions, "
        "prereleases, yanked, min_age, uploaded_before, files) and resolve = first or merge",
    )
    default_view: str = _setting("", _as_str, "the view /simple/ serves (empty: the built-in index and fallback)")
    default_index: str = _setting("", _as_str, "the hosted index the root upload URLs take (empty: 'default')")
    fallback: str = _setting(
        "none", _choice(*FALLBACKS), "what to do for projects the index does not hold: none, redirect, cache, mirror"
    )
    upstream_url: str = _setting(
        "", _as_str, "simple index used by fallback (empty: pypi-simple's PYPI_SIMPLE_ENDPOINT, the public index)"
    )
    upstream_username: str = _setting(
        "", _as_str, "user name for a private upstream (HTTP Basic; __token__ when the password is a token)"
    )
    upstream_password: str = _setting(
        "", _as_str, "password or API token for the upstream (sent only to the upstream's host, never logged)"
    )
    upstream_timeout: float = _setting(
        10.0, float, "seconds to wait for the upstream to connect or to send the next bytes"
    )
    upstream_ttl: int = _setting(
        600, parse_duration, "how long an upstream project page is used before it is revalidated (ETag): 600, 10m, 1h"
    )
    upstream_retry: int = _setting(
        30, parse_duration, "after an upstream failure, how long cached pages are served before it is tried again"
    )
    upstream_allow: list = _setting(
        [], _as_list, "glob patterns of project names that may come from upstream (empty: any name)"
    )
    upstream_deny: list = _setting([], _as_list, "glob patterns of project names that never come from upstream")
    private_prefixes: list = _setting(
        [], _as_list, "glob patterns of private names (acme-*) that never go upstream, even before their first upload"
    )
    upstream_min_age: int = _setting(
        0,
        parse_duration,
        "hide upstream files younger than this (7d) so a hijacked release cannot spread at once; 0: off",
    )
    upstream_stream_size: int = _setting(
        1024**2,
        _as_size,
        "upstream files at least this large stream to the client while being stored; smaller ones are verified first",
    )
    allow_overwrite: bool = _setting(False, _as_bool, "allow uploading other bytes under an existing filename")
    allow_delete: bool = _setting(True, _as_bool, "allow writers to delete files (admins always may)")
    max_upload_size: int = _setting(100 * 1024**2, _as_size, "largest accepted upload, bytes or 100M/1G; larger is 413")
    max_metadata_size: int = _setting(
        4 * 1024**2, _as_size, "largest core metadata file (METADATA, PKG-INFO) read from a distribution; larger is 400"
    )
    max_uncompressed_size: int = _setting(
        4 * 1024**3, _as_size, "most bytes a distribution's archive may inflate to (zip and gzip bombs); more is 400"
    )
    max_compression_ratio: int = _setting(
        200, int, "most times its own size an archive may inflate to, past 16M inflated; more is 400"
    )
    max_archive_members: int = _setting(100_000, int, "most members (files) in a distribution's archive; more is 400")
    upload_wait: int = _setting(
        60,
        parse_duration,
        "how long an upload waits for another upload of the same filename to finish (then 409, retry)",
    )
    stream_files: bool = _setting(
        False, _as_bool, "stream downloads through the app instead of redirecting to signed URLs"
    )
    x_sendfile: str = _setting(
        "",
        _choice("", "nginx", "apache"),
        "let a fronting server send files: nginx (X-Accel-Redirect) or apache (X-Sendfile)",
    )
    x_accel_prefix: str = _setting(
        "/_protected_packages/", _as_str, "internal nginx location that maps to the file storage root"
    )
    database_connect_timeout: int = _setting(
        3, parse_duration, "seconds to wait for a new database connection (PostgreSQL; 2 or more); then 503"
    )
    database_timeout: int = _setting(
        10,
        parse_duration,
        "seconds one SQL statement may take (PostgreSQL statement timeout, SQLite busy timeout); then 503",
    )
    body_timeout: int = _setting(
        30, parse_duration, "seconds a request body may take to arrive, plus 1 s per body_min_rate bytes received"
    )
    body_min_rate: int = _setting(
        64 * 1024, _as_size, "bytes per second that earn an upload one more second of body_timeout (64K)"
    )
    proxy_fix: int = _setting(0, int, "number of proxies in front whose X-Forwarded-* headers to trust")
    session_cookie_secure: str = _setting(
        "auto",
        _choice("auto", "true", "false"),
        "mark the session cookie Secure: auto (when the request came over HTTPS, directly or through proxy_fix), "
        "true or false",
    )
    session_lifetime: int = _setting(
        14 * 86400, parse_duration, "how long a browser login lasts at most (logout ends it sooner): 12h, 14d"
    )
    log_format: str = _setting("text", _choice("text", "json"), "log lines as text, or one JSON object a line (json)")
    access_log: bool = _setting(False, _as_bool, "log every request (method, path, status, bytes, time) at INFO")
    metrics: str = _setting(
        "off", _choice("off", "open", "token"), "Prometheus metrics at /metrics: off, open, or token (metrics_token)"
    )
    metrics_token: str = _setting("", _as_str, "bearer token that metrics = token asks scrapers for")
    log_level: str = _setting("INFO", _choice("debug", "info", "warning", "error"), "logging level")
    auto_reindex: bool = _setting(True, _as_bool, "rebuild the database from storage at start when it is empty")
    bind: list = _setting(
        ["127.0.0.1:6543"],
        _as_list,
        "`flaskpypi serve`: addresses to listen on, HOST:PORT or unix:PATH, comma-separated (the image: 0.0.0.0:6543)",
    )
    workers: int = _setting(0, _at_least(0), "`flaskpypi serve`: worker processes; 0: $WEB_CONCURRENCY if set, else 2")
    threads: int = _setting(
        4, _at_least(1), "`flaskpypi serve`: threads per worker, each serving one request at a time (gthread)"
    )

    def __post_init__(self) -> None:
        self.log_level = self.log_level.upper()
        if self.metrics == "token" and not self.metrics_token:
            raise SettingsError("Setting 'metrics' is 'token' but 'metrics_token' is empty: set one")

    def layout(self) -> Layout:
        """The indexes and views these settings describe; SettingsError names a malformed one."""
        try:
            return build_layout(self.indexes, self.views, self.default_view, self.default_index)
        except ViewConfigError as exc:
            raise SettingsError(f"Malformed indexes or views: {exc}") from None

    @classmethod
    def names(cls) -> list[str]:
        """Every setting's name."""
        return [f.name for f in fields(cls)]

    @classmethod
    def reference(cls) -> list[tuple[str, str, str]]:
        """(name, default, description) for the README's config reference."""
        rows = []
        for f in fields(cls):
            default = f.default_factory() if f.default is MISSING else f.default  # type: ignore[misc]
            shown = json.dumps(default)
            rows.append((f.name, shown, f.metadata["doc"]))
        return rows


def _parse(name: str, value: Any, source: str) -> Any:
    spec = {f.name: f for f in fields(Settings)}.get(name)
    if spec is None:
        raise SettingsError(f"Unknown setting {name!r} in {source}; known settings: {', '.join(Settings.names())}")
    try:
        return spec.metadata["parse"](value)
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise SettingsError(f"Malformed setting {name!r} in {source}: {exc} (got {value!r})")


# Kubernetes puts <SERVICE>_PORT=tcp://ip:port, <SERVICE>_PORT_<n>_TCP[_PROTO|_PORT|_ADDR], <SERVICE>_SERVICE_HOST
# and <SERVICE>_SERVICE_PORT[_<name>] into every pod of a namespace with a Service named like the prefix.
_SERVICE_LINK = re.compile(
    rf"^{ENV_PREFIX}(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT_\d+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)$"
)
_SERVICE_URL = re.compile(r"^(tcp|udp|sctp)://[^/]+:\d+$")


def is_service_link(key: str, value: str, name: str) -> bool:
    """Whether FLASKPYPI_<NAME> is a Kubernetes service link variable rather than a setting."""
    if key == f"{ENV_PREFIX}PORT" and _SERVICE_URL.match(value):
        return True
    return name not in {f.name for f in fields(Settings)} and bool(_SERVICE_LINK.match(key))


def config_path(instance_path: str) -> Path | None:
    """The config file in use: $FLASKPYPI_CONFIG, else <instance>/flaskpypi.toml if present."""
    if os.environ.get(CONFIG_ENV):
        path = Path(os.environ[CONFIG_ENV])
        if not path.is_file():
            raise SettingsError(f"{CONFIG_ENV} names {path}, which is not a file")
        return path
    path = Path(instance_path) / CONFIG_FILENAME
    return path if path.is_file() else None


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings in a TOML file (flat keys, or under a [flaskpypi] table)."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"Cannot read config file {path}: {exc}")
    return data.get("flaskpypi", data)


def load_settings(
    instance_path: str, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> tuple[Settings, Path | None]:
    """Defaults, then the config file, then the environment, then test overrides; each value validated."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_path(instance_path)
    if path:
        for name, value in read_config_file(path).items():
            values[name] = _parse(name, value, str(path))
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX) and key not in (CONFIG_ENV, INSTANCE_ENV):
            name = key[len(ENV_PREFIX) :].lower()
            if is_service_link(key, value, name):
                log.debug("Ignoring %s: a Kubernetes service link, not a setting", key)
                continue
            values[name] = _parse(name, value, f"environment variable {key}")
    for name, value in (overrides or {}).items():
        values[name.lower()] = _parse(name.lower(), value, "test config")
    settings = Settings(**values)
    _fill_instance_defaults(settings, Path(instance_path))
    settings.layout()  # indexes and views are checked together, at start
    return settings, path


def _fill_instance_defaults(settings: Settings, instance: Path) -> None:
    """The embedded default: SQLite and packages under the instance folder, a persistent secret key."""
    if not settings.storage_url:
        settings.storage_url = (instance / "packages").resolve().as_uri()
    if not settings.database_url:
        settings.database_url = f"sqlite:///{(instance / 'flaskpypi.sqlite').resolve()}"
    if not settings.secret_key:
        if not settings.database_url.startswith("sqlite"):
            raise SettingsError(
                "Setting 'secret_key' is required with a shared database: every host behind a load balancer "
                "must sign sessions and CSRF tokens with the same key. Set FLASKPYPI_SECRET_KEY (for example "
                "the output of `python -c 'import secrets; print(secrets.token_urlsafe(48))'`) on every host"
            )
        settings.secret_key = _instance_secret(instance)


def _instance_secret(instance: Path) -> str:
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        tmp = instance / f".secret_key.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)  # the first process to link wins; others read its key
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()
