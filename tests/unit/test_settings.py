"""Settings: defaults, then the config file, then FLASKPYPI_* variables; unknown or malformed ones stop the start."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypi_simple import PYPI_SIMPLE_ENDPOINT

from flaskpypi import create_app
from flaskpypi.core.plugins import PluginError
from flaskpypi.settings import Settings, SettingsError, load_settings
from flaskpypi.upstream import UpstreamConfig


def test_defaults_are_the_embedded_index(tmp_path: Path) -> None:
    settings, path = load_settings(str(tmp_path), environ={})
    assert path is None
    assert settings.storage_url == (tmp_path / "packages").resolve().as_uri()
    assert settings.database_url == f"sqlite:///{(tmp_path / 'flaskpypi.sqlite').resolve()}"
    assert settings.upstream_url == "" and settings.fallback == "none"
    assert UpstreamConfig.from_settings(settings, tmp_path).url == PYPI_SIMPLE_ENDPOINT
    assert len(settings.secret_key) > 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    again, _ = load_settings(str(tmp_path), environ={})
    assert again.secret_key == settings.secret_key


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    (tmp_path / "flaskpypi.toml").write_text('fallback = "cache"\nmax_upload_size = "1G"\ndefault_read = ["a", "b"]\n')
    settings, path = load_settings(str(tmp_path), environ={})
    assert path == tmp_path / "flaskpypi.toml"
    assert (settings.fallback, settings.max_upload_size, settings.default_read) == ("cache", 1024**3, ["a", "b"])
    env = {
        "FLASKPYPI_FALLBACK": "mirror",
        "FLASKPYPI_DEFAULT_READ": "authenticated, devs",
        "FLASKPYPI_STORAGE_OPTIONS": '{"anon": true}',
        "FLASKPYPI_ALLOW_OVERWRITE": "yes",
    }
    settings, _ = load_settings(str(tmp_path), environ=env)
    assert settings.fallback == "mirror" and settings.default_read == ["authenticated", "devs"]
    assert settings.storage_options == {"anon": True} and settings.allow_overwrite is True
    settings, _ = load_settings(str(tmp_path), overrides={"FALLBACK": "none"}, environ=env)
    assert settings.fallback == "none"


def test_config_path_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text("[flaskpypi]\nallow_delete = false\n")
    monkeypatch.setenv("FLASKPYPI_CONFIG", str(config))
    settings, path = load_settings(str(tmp_path / "instance"))
    assert path == config and settings.allow_delete is False
    monkeypatch.setenv("FLASKPYPI_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(SettingsError, match=r"missing\.toml"):
        load_settings(str(tmp_path / "instance"))


@pytest.mark.parametrize(
    ("file_text", "env", "message"),
    [
        ("colour = 'blue'\n", {}, "Unknown setting 'colour'"),
        ("", {"FLASKPYPI_FALBACK": "cache"}, "Unknown setting 'falback' in environment variable FLASKPYPI_FALBACK"),
        ("fallback = 'sometimes'\n", {}, "Malformed setting 'fallback'"),
        ("", {"FLASKPYPI_MAX_UPLOAD_SIZE": "big"}, "Malformed setting 'max_upload_size'"),
        ("", {"FLASKPYPI_ALLOW_DELETE": "perhaps"}, "Malformed setting 'allow_delete'"),
        ("", {"FLASKPYPI_STORAGE_OPTIONS": "[1]"}, "Malformed setting 'storage_options'"),
        ("this is = = not toml", {}, "Cannot read config file"),
    ],
)
def test_bad_settings_name_themselves(tmp_path: Path, file_text: str, env: dict[str, str], message: str) -> None:
    (tmp_path / "flaskpypi.toml").write_text(file_text)
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        load_settings(str(tmp_path), environ=env)


def test_missing_storage_plugin_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(PluginError, match=r"No plugin 'nosuch'.*installed: .*file.*memory"):
        create_app({"storage_url": "nosuch://bucket"})


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for name, _default, _doc in Settings.reference():
        assert f"`{name}`" in readme, name


def test_kubernetes_service_links_are_ignored(tmp_path: Path) -> None:
    links = {
        "FLASKPYPI_PORT": "tcp://10.0.0.1:6543",
        "FLASKPYPI_PORT_6543_TCP": "tcp://10.0.0.1:6543",
        "FLASKPYPI_PORT_6543_TCP_PROTO": "tcp",
        "FLASKPYPI_PORT_6543_TCP_PORT": "6543",
        "FLASKPYPI_PORT_6543_TCP_ADDR": "10.0.0.1",
        "FLASKPYPI_SERVICE_HOST": "10.0.0.1",
        "FLASKPYPI_SERVICE_PORT": "6543",
        "FLASKPYPI_SERVICE_PORT_HTTP": "6543",
    }
    settings, _ = load_settings(str(tmp_path), environ={**links, "FLASKPYPI_FALLBACK": "cache"})
    assert settings.fallback == "cache"
    with pytest.raises(SettingsError, match="Unknown setting 'servce_host'"):
        load_settings(str(tmp_path), environ={"FLASKPYPI_SERVCE_HOST": "10.0.0.1"})
    with pytest.raises(SettingsError, match="Unknown setting 'port_http'"):
        load_settings(str(tmp_path), environ={"FLASKPYPI_PORT_HTTP": "6543"})


def test_a_shared_database_requires_the_secret_key(tmp_path: Path) -> None:
    """Several hosts over one database must sign sessions alike: no per-host key is made up for them."""
    url = "postgresql+psycopg://db.example/flaskpypi"
    with pytest.raises(SettingsError, match="'secret_key' is required with a shared database"):
        load_settings(str(tmp_path), environ={}, overrides={"database_url": url})
    assert not (tmp_path / "secret_key").exists()
    assert (
        load_settings(str(tmp_path), environ={}, overrides={"database_url": url, "secret_key": "k"})[0].secret_key
        == "k"
    )
