"""The failed-login throttle holds under concurrency: a burst of wrong passwords sent at once against a live
gunicorn server (threaded workers) gets exactly the limit of real password checks, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import ADMIN

pytestmark = pytest.mark.e2e
BURST, LIMIT = 40, 5
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
THREADED = {"GUNICORN_CMD_ARGS": "--worker-class gthread --threads 12"}  # 2 workers x 12 threads at once


def burst(guess: Callable[..., int]) -> list[int]:
    """BURST guesses, each on its own connection, released together once every thread is ready; statuses."""
    gate = threading.Barrier(BURST)

    def one(i: int) -> int:
        with requests.Session() as session:
            return guess(session, i, gate)

    with ThreadPoolExecutor(BURST) as pool:
        return list(pool.map(one, range(BURST)))


def basic_guesses(url: str, user: str) -> Callable[..., int]:
    def guess(session: requests.Session, i: int, gate: threading.Barrier) -> int:
        gate.wait(timeout=60)
        return session.get(url, auth=(user, f"wrong-guess-{i}"), timeout=120).status_code

    return guess


def form_guesses(base: str, user: str) -> Callable[..., int]:
    def guess(session: requests.Session, i: int, gate: threading.Barrier) -> int:
        token = CSRF.search(session.get(base + "account/login", timeout=60).text).group(1)
        gate.wait(timeout=60)
        data = {"username": user, "password": f"wrong-guess-{i}", "csrf_token": token}
        return session.post(base + "account/login", data=data, timeout=120).status_code

    return guess


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_burst_of_wrong_passwords_gets_only_the_limit_of_checks(live_server, request, database: str) -> None:
    settings = {"login_limit_user": LIMIT, "login_limit_address": 1000, "login_limit_user_total": 1000}
    if database == "postgresql":
        settings["database_url"] = request.getfixturevalue("postgres_url")
    server = live_server(extra_env=THREADED, **settings)
    me = server.url + "api/me"

    statuses = burst(basic_guesses(me, ADMIN[0]))
    assert sorted(set(statuses)) == [401, 429], statuses
    assert statuses.count(401) == LIMIT, f"{statuses.count(401)} real password checks for a limit of {LIMIT}"
    refused = requests.get(me, auth=ADMIN, timeout=30)  # the right password waits too
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1

    # the login form counts the same way
    statuses = burst(form_guesses(server.url, "alice"))
    assert sorted(set(statuses)) == [401, 429], statuses
    assert statuses.count(401) == LIMIT, f"{statuses.count(401)} real password checks for a limit of {LIMIT}"
