"""Metrics at /metrics (off, open, token), the access log and JSON logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from flaskpypi import create_app, log_formatter
from flaskpypi.settings import SettingsError
from tests.helpers import upload
from tests.support.dists import make_wheel


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition, keyed by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: dict, **extra: object):
    monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(tmp_path / "instance"))
    return create_app({**settings, **extra})


def test_metrics_are_off_by_default(client) -> None:
    assert client.get("/metrics").status_code == 404


def test_metrics_count_requests_uploads_and_downloads(tmp_path, monkeypatch, settings) -> None:
    client = _app(tmp_path, monkeypatch, settings, metrics="open").test_client()
    before = samples(client.get("/metrics").get_data(as_text=True))
    wheel = make_wheel(tmp_path / "d", "demo", "1.0")
    assert upload(client, wheel).status_code == 200
    assert upload(client, wheel).status_code == 200  # identical again: unchanged
    assert client.get(f"/packages/demo/{wheel.name}").status_code == 200
    assert client.get("/packages/demo/nothing-1.0.tar.gz").status_code == 404
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    after = samples(response.get_data(as_text=True))

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("flaskpypi_uploads_total", result="created") == 1
    assert grew("flaskpypi_uploads_total", result="unchanged") == 1
    assert grew("flaskpypi_downloads_total", status="200") == 1
    assert grew("flaskpypi_downloads_total", status="404") == 1
    assert grew("flaskpypi_http_requests_total", endpoint="files.download", method="GET", status="200") == 1
    assert grew("flaskpypi_http_request_duration_seconds_count", endpoint="files.download") == 2
    assert after[("flaskpypi_projects", ())] == 1 and after[("flaskpypi_files", ())] == 1


def test_metrics_token(tmp_path, monkeypatch, settings) -> None:
    with pytest.raises(SettingsError, match="metrics_token"):
        _app(tmp_path, monkeypatch, settings, metrics="token")
    client = _app(tmp_path, monkeypatch, settings, metrics="token", metrics_token="scrape-me").test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).status_code == 200


def test_access_log_lines(tmp_path, monkeypatch, settings, caplog: pytest.LogCaptureFixture) -> None:
    client = _app(tmp_path, monkeypatch, settings, access_log=True).test_client()
    with caplog.at_level(logging.INFO, logger="flaskpypi.access"):
        client.get("/simple/?x=1")
    [line] = [r for r in caplog.records if r.name == "flaskpypi.access"]
    assert line.getMessage().startswith("127.0.0.1 GET /simple/?x=1 200 ")
    assert line.status == 200 and line.method == "GET"  # type: ignore[attr-defined]


def test_json_log_lines_carry_the_fields() -> None:
    record = logging.LogRecord("flaskpypi.access", logging.INFO, __file__, 1, "GET %s", ("/x",), None)
    record.status = 200
    line = json.loads(log_formatter("json").format(record))
    assert line["message"] == "GET /x" and line["level"] == "INFO" and line["status"] == 200
    assert line["name"] == "flaskpypi.access" and "asctime" in line
