"""The cloud plugins as distributions: entry points, extras, no import from the core, make-config, GCS signing."""

from __future__ import annotations

import configparser
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from flaskpypi.cli import cli
from flaskpypi.core.plugins import KNOWN_DISTRIBUTIONS, STORAGE_GROUP
from flaskpypi.storage import load_storage
from tests.support.emulators import Emulator, gcs_emulator  # noqa: F401  (session fixture)

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = {"s3": "flaskpypi-s3", "gcs": "flaskpypi-gcs", "azure": "flaskpypi-azure"}
CLOUD_MODULES = ("s3fs", "gcsfs", "adlfs", "boto3", "botocore", "aiobotocore", "azure", "google")


def test_each_plugin_is_a_distribution_with_its_entry_points() -> None:
    for distribution in PLUGINS.values():
        project = tomllib.loads((ROOT / "plugins" / distribution / "pyproject.toml").read_text())["project"]
        assert project["name"] == distribution
        assert (ROOT / "plugins" / distribution / "README.md").is_file()
        schemes = project["entry-points"][STORAGE_GROUP]
        for scheme in schemes:
            assert KNOWN_DISTRIBUTIONS[(STORAGE_GROUP, scheme)] == distribution, scheme
        assert any(dep.startswith("flaskpypi") for dep in project["dependencies"])


def test_extras_name_the_plugin_distributions() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    extras = config["options.extras_require"]
    for extra, distribution in PLUGINS.items():
        assert extras[extra].split() == [distribution]


def test_the_core_imports_no_cloud_library(tmp_path: Path) -> None:
    code = (
        "import sys, tempfile, pathlib\n"
        "from flaskpypi import create_app\n"
        "import flaskpypi.cli, flaskpypi.storage.base, flaskpypi.storage.migrate, flaskpypi.testing.storage_contract\n"
        "tmp = pathlib.Path(tempfile.mkdtemp())\n"
        "create_app({'storage_url': (tmp / 'p').as_uri(), 'database_url': f'sqlite:///{tmp}/db', 'secret_key': 'x'})\n"
        f"print(sorted({{m for m in sys.modules if m.split('.')[0] in {CLOUD_MODULES!r}}}))\n"
    )
    env = {"FLASKPYPI_INSTANCE_PATH": str(tmp_path / "instance"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_make_config_offers_the_installed_plugins_and_asks_their_questions(tmp_path: Path) -> None:
    out = tmp_path / "s3.toml"
    answers = "\n".join(["prod", "s3", "packages", "team", "eu-west-1", "https://minio.internal:9000", "", "stream"])
    answers += "\n\nops\nops-password\nops-password\nnone\n"
    result = CliRunner().invoke(cli, ["make-config", "-o", str(out)], input=answers)
    assert result.exit_code == 0, result.output
    assert "(file, s3, gcs, azure)" in result.output  # offered because the plugins are installed
    assert "the standard AWS chain" in result.output
    config = tomllib.loads(out.read_text())
    assert config["storage_url"] == "s3://packages/team" and config["stream_files"] is True
    assert config["storage_options"] == {"client_kwargs": {"region_name": "eu-west-1"},
                                         "endpoint_url": "https://minio.internal:9000"}  # fmt: skip
    storage = load_storage(config["storage_url"], config["storage_options"])
    assert type(storage).__name__ == "S3Storage" and storage.describe() == "s3://packages/team"


def test_make_config_offers_only_installed_clouds(monkeypatch: pytest.MonkeyPatch) -> None:
    from flaskpypi.cli import makeconfig

    monkeypatch.setattr(makeconfig, "installed", lambda group: ["file", "memory", "s3"])
    assert makeconfig._offered() == ("file", "s3")


@pytest.mark.parametrize(
    ("flags", "url", "options", "note"),
    [
        (["--storage", "s3", "--bucket", "b", "--access-key-id", "AKIAX", "--secret-access-key", "sekrit"],
         "s3://b", {"key": "AKIAX", "secret": "sekrit"}, None),
        (["--storage", "gcs", "--bucket", "b", "--prefix", "/p/", "--gcp-project", "proj"],
         "gs://b/p", {"project": "proj"}, "application default credentials"),
        (["--storage", "azure", "--bucket", "c", "--account-name", "acct"],
         "az://c", {"account_name": "acct"}, "DefaultAzureCredential"),
        (["--storage", "azure", "--bucket", "c", "--connection-string", "UseDevelopmentStorage=true"],
         "az://c", {"connection_string": "UseDevelopmentStorage=true"}, None),
    ],
)  # fmt: skip
def test_make_config_from_flags_for_each_cloud(
    tmp_path: Path, flags: list[str], url: str, options: dict[str, str], note: str | None
) -> None:
    out = tmp_path / "c.toml"
    args = ["make-config", "--no-input", "--admin-password", "long-enough-pw", "-o", str(out), *flags]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    config = tomllib.loads(out.read_text())
    assert config["storage_url"] == url and config["storage_options"] == options
    assert "stream_files" not in config  # redirect to signed URLs by default
    if note:
        assert note in result.output


@pytest.mark.emulator
def test_gcs_signs_with_a_service_account_key_and_streams_without_one(gcs_emulator: Emulator) -> None:  # noqa: F811
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()  # fmt: skip
    account = {
        "type": "service_account",
        "project_id": "test",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "flaskpypi@test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "http://127.0.0.1:9/token",
    }  # fmt: skip  (never called: signing is local)
    url = gcs_emulator.storage_url()
    anonymous = load_storage(url, gcs_emulator.options)
    anonymous.put_bytes("demo/demo-1.0.tar.gz", b"signed bytes")
    assert anonymous.download_url("demo/demo-1.0.tar.gz") is None  # the app streams

    signer = load_storage(url, {**gcs_emulator.options, "token": account})
    signed = signer.download_url("demo/demo-1.0.tar.gz", expires=60)
    assert signed is not None and signed.startswith(gcs_emulator.endpoint)
    assert "X-Goog-Signature=" in signed and "X-Goog-Expires=60" in signed
    assert requests.get(signed, timeout=30).content == b"signed bytes"
