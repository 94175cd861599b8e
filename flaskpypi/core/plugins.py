"""Find plugins through entry points (importlib.metadata), import lazily, and explain what is missing."""

from __future__ import annotations

from importlib.metadata import entry_points

STORAGE_GROUP = "flaskpypi.storage"
AUTH_GROUP = "flaskpypi.auth"

# Where the plugins we know of come from, to name the package in the error.
KNOWN_DISTRIBUTIONS = {
    (STORAGE_GROUP, "s3"): "flaskpypi-s3",
    (STORAGE_GROUP, "gs"): "flaskpypi-gcs",
    (STORAGE_GROUP, "gcs"): "flaskpypi-gcs",
    (STORAGE_GROUP, "az"): "flaskpypi-azure",
    (STORAGE_GROUP, "abfs"): "flaskpypi-azure",
    (AUTH_GROUP, "sql"): "flaskpypi",
    (AUTH_GROUP, "htpasswd"): "flaskpypi-htpasswd",
    (AUTH_GROUP, "ldap"): "flaskpypi-ldap",
}


class PluginError(Exception):
    """A plugin that was asked for is not installed or does not import."""


def installed(group: str) -> list[str]:
    """Names of the plugins installed in an entry-point group."""
    return sorted({ep.name for ep in entry_points(group=group)})


def load_plugin(group: str, name: str) -> type:
    """Load the class registered as `name` in `group`, or fail with one line saying what to install."""
    matches = [ep for ep in entry_points(group=group) if ep.name == name]
    dist = KNOWN_DISTRIBUTIONS.get((group, name), f"a distribution providing {group}:{name}")
    if not matches:
        have = ", ".join(installed(group)) or "none"
        raise PluginError(f"No plugin {name!r} in entry-point group {group!r} (installed: {have}); pip install {dist}")
    try:
        return matches[0].load()
    except ImportError as exc:
        raise PluginError(f"Plugin {name!r} ({matches[0].value}) failed to import: {exc}; pip install {dist}") from exc
