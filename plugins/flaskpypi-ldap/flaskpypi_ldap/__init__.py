"""The `ldap` auth plugin: passwords checked by an LDAP bind, groups by an LDAP search (ldap3)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from flaskpypi.auth import Acl, AuthBackend, GrantInfo, Principal
from flaskpypi.auth.config import ConfigAdmins, grant_rows, parse_grants, parse_index_grants
from flaskpypi.settings import SettingsError

log = logging.getLogger(__name__)
DEFAULTS: dict[str, Any] = {
    "url": "ldap://127.0.0.1:389",
    "user_dn": "",
    "bind_dn": "",
    "bind_password": "",
    "user_base": "",
    "user_filter": "(uid={username})",
    "group_base": "",
    "group_filter": "(&(objectClass=groupOfNames)(member={dn}))",
    "group_name_attribute": "cn",
    "admin_group": "",
    "start_tls": False,
    "timeout": 5,
    "cache_seconds": 60,
}


class LdapError(Exception):
    """The directory could not be reached or refused the service account."""


class LdapAuth(AuthBackend):
    """Users and groups from LDAP; grants and extra admins from the config file."""

    def __init__(self, settings: Any, **options: Any) -> None:
        super().__init__(settings, **options)
        unknown = set(options) - set(DEFAULTS)
        if unknown:
            raise SettingsError(f"Unknown ldap auth_options: {', '.join(sorted(unknown))}")
        self.config = {**DEFAULTS, **options}
        if not self.config["user_dn"] and not self.config["user_base"]:
            raise SettingsError("ldap auth_options need user_dn (a DN template) or user_base (a search)")
        self.server = ldap3.Server(self.config["url"], connect_timeout=int(self.config["timeout"]))
        self.admins = ConfigAdmins(settings)
        self.acls = parse_grants(settings.grants)
        self.index_grants = parse_index_grants(settings.index_grants, settings.layout().indexes)
        self._cache: dict[str, tuple[float, str | None, frozenset[str]]] = {}
        self._lock = threading.Lock()

    # -- directory access -----------------------------------------------------------------------

    def _connect(self, user: str | None = None, password: str | None = None) -> ldap3.Connection:
        conn = ldap3.Connection(self.server, user=user, password=password,
                                receive_timeout=int(self.config["timeout"]), raise_exceptions=False)  # fmt: skip
        if self.config["start_tls"]:
            conn.open()
            conn.start_tls()
        return conn

    def _service(self) -> ldap3.Connection:
        """A connection bound as the service account (or anonymously when none is configured)."""
        conn = self._connect(self.config["bind_dn"] or None, self.config["bind_password"] or None)
        if not conn.bind():
            raise LdapError(f"LDAP service bind failed: {conn.result.get('description')}")
        return conn

    def _find_dn(self, username: str) -> str | None:
        """The user's DN: from the template, or by searching (None when no single entry matches)."""
        if self.config["user_dn"]:
            return self.config["user_dn"].format(username=escape_rdn(username))
        conn = self._service()
        try:
            query = self.config["user_filter"].format(username=escape_filter_chars(username))
            conn.search(self.config["user_base"], query, attributes=[], size_limit=2)
            return conn.entries[0].entry_dn if len(conn.entries) == 1 else None
        finally:
            conn.unbind()

    def _group_names(self, username: str, dn: str) -> frozenset[str]:
        if not self.config["group_base"]:
            return frozenset()
        attribute = self.config["group_name_attribute"]
        query = self.config["group_filter"].format(dn=escape_filter_chars(dn),
                                                   username=escape_filter_chars(username))  # fmt: skip
        conn = self._service()
        try:
            conn.search(self.config["group_base"], query, attributes=[attribute])
            return frozenset(str(e[attribute].value) for e in conn.entries if attribute in e)
        finally:
            conn.unbind()

    def _lookup(self, username: str) -> tuple[str | None, frozenset[str]]:
        """(DN or None, groups) of a user, remembered for cache_seconds."""
        with self._lock:
            hit = self._cache.get(username)
        if hit and hit[0] > time.monotonic():
            return hit[1], hit[2]
        try:
            dn = self._find_dn(username)
            exists = dn is not None and self._exists(dn)
            groups = self._group_names(username, dn) if exists and dn else frozenset()
        except (LDAPException, LdapError) as exc:
            log.warning("LDAP lookup of %r failed: %s", username, exc)
            return None, frozenset()
        result = (dn if exists else None, groups)
        with self._lock:
            self._cache[username] = (time.monotonic() + float(self.config["cache_seconds"]), *result)
        return result

    def _exists(self, dn: str) -> bool:
        conn = self._service()
        try:
            return bool(conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=[]))
        finally:
            conn.unbind()

    # -- the AuthBackend contract ---------------------------------------------------------------

    def authenticate(self, username: str, secret: str) -> Principal | None:
        if self.admins.check_admin_password(username, secret):
            return Principal(username)
        if not username or not secret:  # an empty password would be an anonymous bind that succeeds
            return None
        try:
            dn = self._find_dn(username)
            if dn is None:
                return None
            conn = self._connect(dn, secret)
            ok = conn.bind()
            conn.unbind()
        except (LDAPException, LdapError) as exc:
            log.warning("LDAP bind for %r failed: %s", username, exc)
            return None
        return Principal(username) if ok else None

    def groups(self, principal: Principal) -> set[str]:
        return set(self._lookup(principal.name)[1])

    def is_admin(self, principal: Principal) -> bool:
        groups = self.groups(principal)
        admin_group = self.config["admin_group"]
        return self.admins.is_admin(principal.name, groups) or bool(admin_group and admin_group in groups)

    def user_exists(self, username: str) -> bool:
        if self.admins.user and username == self.admins.user:
            return True
        return self._lookup(username)[0] is not None

    def project_acl(self, project: str) -> Acl:
        return self.acls.get(project, Acl())

    def list_grants(self, project: str | None = None) -> list[GrantInfo]:
        return grant_rows(self.acls, project)

    def index_acls(self) -> dict[str, Acl]:
        return self.index_grants
