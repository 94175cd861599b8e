"""The fallback service without Flask (a Session and the asker in, plain results out), and the Runtime that
create_app builds once: complete when the factory returns, never patched afterwards."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from flaskpypi.auth import Principal
from flaskpypi.core.errors import NotFound, Unauthorized
from flaskpypi.index.migrate import upgrade
from flaskpypi.runtime import Runtime, build_runtime
from flaskpypi.settings import load_settings
from flaskpypi.upstream import Listing, Upstream
from flaskpypi.views import Fallback, Merged, Redirect
from tests.conftest import ADMIN, base_settings
from tests.support.upstream import LocalUpstream
from tests.unit.upstream_fixtures import json_upstream, make_app  # noqa: F401


def _runtime(tmp_path: Path, upstream: LocalUpstream, **overrides: object) -> Runtime:
    values = {**base_settings(tmp_path), "fallback": "cache", "upstream_url": upstream.url, "upstream_retry": 0}
    settings, _ = load_settings(str(tmp_path / "instance"), {**values, **overrides}, environ={})
    upgrade(create_engine(settings.database_url))
    return build_runtime(settings, tmp_path / "instance")


def _service(rt: Runtime, session: Session, who: Principal | None) -> Fallback:
    return Fallback(session, rt.storage, rt.policy, rt.upstream, rt.access, who, rt.settings.fallback)


def test_the_service_answers_without_flask(tmp_path: Path, json_upstream: LocalUpstream) -> None:  # noqa: F811
    rt = _runtime(tmp_path, json_upstream)
    with Session(create_engine(rt.settings.database_url)) as session:
        anonymous = _service(rt, session, None)
        plan = anonymous.plan("demo")
        assert plan.listing is Listing.LOGIN  # only authenticated askers may fetch (cache_update)
        with pytest.raises(Unauthorized):
            anonymous.answer(plan)

        admin = _service(rt, session, Principal("admin"))
        plan = admin.plan("demo")
        assert plan.listing is Listing.UPSTREAM
        answer = admin.answer(plan)
        assert isinstance(answer, Merged)
        page = answer.build(None, lambda f: f"/here/{f.filename}")
        wanted = {p.name for p in json_upstream.dists("demo")}
        assert {f.filename for f in page.files} == wanted
        assert all(f.url == f"/here/{f.filename}" for f in page.files)

        wheel = next(name for name in wanted if name.startswith("demo-1.0"))
        row = admin.fetch("demo", wheel, "", stream=False)
        assert row.filename == wheel and rt.storage.exists(f"demo/{wheel}")
        again = admin.plan("demo")
        assert wheel in again.facts.cached
        assert answer.etag("json") != admin.answer(again).etag("json")  # the cached file changed the serial
        with pytest.raises(NotFound):
            admin.answer(admin.plan("no-such-project"))


def test_redirect_mode_answers_with_the_upstream_url(tmp_path: Path, json_upstream: LocalUpstream) -> None:  # noqa: F811
    rt = _runtime(tmp_path, json_upstream, fallback="redirect")
    with Session(create_engine(rt.settings.database_url)) as session:
        svc = _service(rt, session, None)
        answer = svc.answer(svc.plan("demo"))
        assert isinstance(answer, Redirect) and answer.url == json_upstream.url.rstrip("/") + "/demo/"


def test_the_runtime_is_complete_when_create_app_returns(make_app, json_upstream: LocalUpstream) -> None:  # noqa: F811
    app = make_app(json_upstream, fallback="cache")
    rt = app.extensions["flaskpypi"]
    assert isinstance(rt, Runtime) and isinstance(rt.upstream, Upstream)
    assert rt.authenticator is not None and rt.session_principal is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        rt.upstream = None  # type: ignore[misc]
    with app.test_client() as client:
        assert client.get("/simple/demo/", auth=ADMIN).status_code == 200
    assert app.extensions["flaskpypi"].upstream is rt.upstream
