"""The flaskpypi-ldap plugin against a real OpenLDAP server (slapd) that the test starts on loopback."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ADMIN, base_settings, missing
from tests.e2e.access_helpers import admin_call
from tests.helpers import twine_fields
from tests.support.clients import Venv, check, pip_install, twine_upload, with_credentials
from tests.support.dists import make_wheel
from tests.support.server import LiveServer, free_port

pytestmark = pytest.mark.e2e
SUFFIX = "dc=example,dc=org"
PEOPLE, GROUPS = f"ou=people,{SUFFIX}", f"ou=groups,{SUFFIX}"
USERS = {"lena": "lena-password", "marc": "marc-password", "olga": "olga-password"}
MEMBERS = {"devs": ["lena"], "pypi-admins": ["olga"]}


def _ldif() -> str:
    entries = [f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example",
               f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people",
               f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups"]  # fmt: skip
    for user, password in USERS.items():
        entries.append(f"dn: uid={user},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {user}\ncn: {user}\nsn: {user}\n"
                       f"userPassword: {password}")  # fmt: skip
    for group, members in MEMBERS.items():
        lines = "\n".join(f"member: uid={m},{PEOPLE}" for m in members)
        entries.append(f"dn: cn={group},{GROUPS}\nobjectClass: groupOfNames\ncn: {group}\n{lines}")
    return "\n\n".join(entries) + "\n"


def _config(root: Path) -> str:
    return (
        "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\n"
        "include /etc/ldap/schema/inetorgperson.schema\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\n"
        f'pidfile {root}/slapd.pid\ndatabase mdb\nmaxsize 10485760\nsuffix "{SUFFIX}"\n'
        f'rootdn "cn=admin,{SUFFIX}"\ndirectory {root}/db\n'
        "access to attrs=userPassword by self read by anonymous auth by * none\naccess to * by * read\n"
    )


@pytest.fixture(scope="module")
def slapd(tmp_path_factory) -> Iterator[str]:
    """A slapd with users lena, marc, olga; groups devs (lena) and pypi-admins (olga); its URL."""
    binary = shutil.which("slapd") or "/usr/sbin/slapd"
    slapadd = shutil.which("slapadd") or "/usr/sbin/slapadd"
    if not (Path(binary).exists() and Path(slapadd).exists()):
        missing("slapd is not installed (apt-get install slapd ldap-utils; scripts/test-deps.sh does)")
    try:
        import flaskpypi_ldap  # noqa: F401
        import ldap3
    except ImportError:
        missing("the flaskpypi-ldap plugin is not installed (make setup-test installs plugins/*)")

    root = tmp_path_factory.mktemp("slapd")
    (root / "db").mkdir()
    (root / "slapd.conf").write_text(_config(root))
    (root / "data.ldif").write_text(_ldif())
    loaded = subprocess.run([slapadd, "-f", root / "slapd.conf", "-l", root / "data.ldif"],
                            capture_output=True, text=True)  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    url = f"ldap://127.0.0.1:{free_port()}"
    log = (root / "slapd.log").open("w")
    proc = subprocess.Popen([binary, "-f", root / "slapd.conf", "-h", f"{url}/", "-d", "0"], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if ldap3.Connection(ldap3.Server(url, connect_timeout=1), auto_bind=True):
                    break
            except ldap3.core.exceptions.LDAPException:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"slapd did not start: {(root / 'slapd.log').read_text()}")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def server(slapd, tmp_path_factory) -> Iterator[LiveServer]:
    """flaskpypi on the ldap backend: devs write `team-lib`, pypi-admins administer, others read by default."""
    root = tmp_path_factory.mktemp("ldap-index")
    options = {"url": slapd, "user_dn": f"uid={{username}},{PEOPLE}", "group_base": GROUPS,
               "admin_group": "pypi-admins", "cache_seconds": 0}  # fmt: skip
    settings = {**base_settings(root), "auth_backend": "ldap", "auth_options": options,
                "default_read": "authenticated", "default_write": "",
                "grants": {"team-lib": {"group:devs": "write", "marc": "read"}}}  # fmt: skip
    live = LiveServer(root, settings).start()
    # team-lib 1.0 exists whichever test runs first (an identical re-upload by a test is a 200 no-op)
    wheel = make_wheel(root / "seed", "team-lib", "1.0")
    body = wheel.read_bytes()
    seeded = requests.post(live.index_url, auth=("lena", USERS["lena"]), data=twine_fields(wheel.name, body),
                           files={"content": (wheel.name, body)}, timeout=60)  # fmt: skip
    assert seeded.status_code == 200, seeded.text
    yield live
    live.stop()


def test_ldap_users_log_in_and_groups_grant_upload(server, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "dist", "team-lib", "1.0")
    check(twine_upload(server.index_url, [wheel], "lena", USERS["lena"]))  # devs write team-lib
    refused = twine_upload(server.index_url, [make_wheel(tmp_path / "d2", "team-lib", "2.0")], "marc", USERS["marc"])
    assert refused.returncode != 0 and "403" in refused.stdout + refused.stderr  # marc only reads
    assert requests.get(server.index_url, auth=("lena", "wrong-password"), timeout=10).status_code == 401
    assert requests.get(server.index_url, auth=("nobody", "x-password"), timeout=10).status_code == 401
    assert requests.get(server.index_url, auth=("lena", ""), timeout=10).status_code == 401  # no anonymous bind
    assert requests.get(server.index_url + "team-lib/", auth=("olga", USERS["olga"]), timeout=10).status_code == 200
    venv = Venv.create(tmp_path / "venv", pip=True)
    check(pip_install(venv, with_credentials(server.index_url, "marc", USERS["marc"]), "team-lib"))
    assert venv.version_of("team-lib") == "1.0"


def test_ldap_admin_group_and_tokens(server) -> None:
    me = admin_call(server, "GET", "/api/me", auth=("olga", USERS["olga"]))
    assert me == {"name": "olga", "admin": True, "groups": ["pypi-admins"], "via_token": False}
    grants = admin_call(server, "GET", "/api/admin/grants", auth=("olga", USERS["olga"]))["grants"]
    assert {"project": "team-lib", "kind": "group", "subject": "devs", "permission": "write"} in grants
    read_only = requests.post(server.url + "api/admin/users", json={"name": "x", "password": "x-password-1"},
                              auth=("olga", USERS["olga"]), timeout=10)  # fmt: skip
    assert read_only.status_code == 409 and "read-only" in read_only.text
    assert requests.get(server.url + "api/admin/users", auth=("lena", USERS["lena"]), timeout=10).status_code == 403
    token = admin_call(server, "POST", "/api/tokens", {"permission": "read"}, auth=("marc", USERS["marc"]))["token"]
    assert requests.get(server.index_url + "team-lib/", auth=("__token__", token), timeout=10).status_code == 200
    assert requests.get(server.url + "api/admin/users", auth=ADMIN, timeout=10).status_code == 409
