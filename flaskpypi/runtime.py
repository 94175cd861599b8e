"""What create_app builds once: settings, the plugins they chose and the services built on them (no Flask).

The Runtime is complete when `build_runtime` returns and is frozen: no module patches it later or builds a
part of it on the first request. The host hands in what only it knows (how to reach this request's SQL
session and the engine, who the browser session's user is) as callables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from .auth import Principal, load_auth
from .auth.login import Authenticator
from .auth.policy import AccessPolicy
from .auth.ratelimit import Limits, RateLimiter
from .core.archives import ArchiveLimits
from .core.errors import InvalidName
from .core.names import validate_index_name
from .core.views import HOSTED, IndexConfig, Layout
from .index.service import Policy
from .settings import Settings, SettingsError
from .storage import Storage, load_storage
from .storage.scoped import index_storage
from .upstream import CACHE, REDIRECT, Upstream, UpstreamConfig
from .upstream.config import STATE_FOLDER
from .upstream.state import STATE_PREFIX

SessionPrincipal = Callable[[], Principal | None]


@dataclass
class Startup:
    """Facts of the start-up itself, written while create_app runs (the database step) and read by the CLI."""

    rebuilt: tuple[int, int] | None = None  # (projects, files) when start-up rebuilt an empty index


@dataclass(frozen=True)
class Runtime:
    """The app's settings, storage, access policy, index rules, upstream service and credential checks."""

    settings: Settings
    storage: Storage
    access: AccessPolicy
    policy: Policy
    upstream: Upstream
    layout: Layout
    upstreams: dict[str, Upstream]  # one service per [indexes.<name>] of type upstream
    authenticator: Authenticator | None = None  # throttled credential checks; None outside a web app
    session_principal: SessionPrincipal | None = None  # the UI's logged-in user
    startup: Startup = field(default_factory=Startup)

    @property
    def rebuilt_at_start(self) -> tuple[int, int] | None:
        """(projects, files) when start-up rebuilt the index from storage, else None."""
        return self.startup.rebuilt


def build_runtime(settings: Settings, instance_path: str | Path, *, session: Callable[[], Session] | None = None,
                  engine: Callable[[], Engine] | None = None,
                  session_principal: SessionPrincipal | None = None) -> Runtime:  # fmt: skip
    """Load the storage and auth plugins the settings name and build the services on them.

    `session` and `engine` give the credential checks their database (with both, an Authenticator with
    rate limits is built); the upstream's shared state lives in `<instance_path>/upstream`.
    Raises SettingsError (or the plugin loader's error) naming what is wrong.
    """
    storage = load_storage(settings.storage_url, settings.storage_options)
    backend = load_auth(settings.auth_backend, settings, settings.auth_options)
    access = AccessPolicy(backend, settings.default_read, settings.default_write, settings.cache_update)
    policy = Policy(settings.allow_overwrite, settings.allow_delete, settings.max_upload_size,
                    ArchiveLimits.from_settings(settings), settings.upload_wait)  # fmt: skip
    shared = settings.database_url.startswith("postgresql")  # fetch locks in the database: one fetch across hosts
    upstream = Upstream(UpstreamConfig.from_settings(settings, instance_path), storage, engine, shared)
    layout = settings.layout()
    check_layout(layout)
    upstreams = {i.name: Upstream(_index_config(settings, i, instance_path), storage, engine, shared,
                                  index_storage(storage, i.name) if i.mode == CACHE else None)
                 for i in layout.indexes.values() if i.type != HOSTED}  # fmt: skip
    authenticator = None
    if session is not None and engine is not None:
        limits = Limits(settings.login_window, settings.login_limit_user, settings.login_limit_address,
                        settings.login_limit_user_total)  # fmt: skip
        authenticator = Authenticator(backend, session, RateLimiter(engine, limits))
    return Runtime(settings, storage, access, policy, upstream, layout, upstreams, authenticator, session_principal)


def _index_config(settings: Settings, index: IndexConfig, instance_path: str | Path) -> UpstreamConfig:
    """An upstream index's client settings; its pages and health live in <instance>/upstream/indexes/<name>
    (locks, temporary files) and under its own state prefix in the storage.

    `mode = "redirect"` links its files to the upstream itself; `mode = "cache"` links them here and stores
    each on its first download under `_indexes/<name>/` (check_layout vets the name). `none` is refused.
    """
    if index.mode not in (REDIRECT, CACHE):
        raise SettingsError(f"[indexes.{index.name}]: mode {index.mode!r} is not built for named upstream "
                            "indexes; use mode = \"cache\" or \"redirect\"")  # fmt: skip
    return UpstreamConfig(
        mode=index.mode,
        given_url=index.url,
        state_dir=Path(instance_path) / STATE_FOLDER / "indexes" / index.name,
        username=index.username,
        password=index.password,
        timeout=float(settings.upstream_timeout),
        ttl=index.ttl,
        retry=int(settings.upstream_retry),
        limits=ArchiveLimits.from_settings(settings),
        state_prefix=f"{STATE_PREFIX}-{index.name}",  # its own pages and health, never the default upstream's
    )


def check_layout(layout: Layout) -> None:
    """Refuse a hosted (or caching upstream) index whose name cannot be a storage folder (`_indexes/<name>/`)."""
    for index in layout.indexes.values():
        if index.name in layout.stored():
            try:
                validate_index_name(index.name)
            except InvalidName:
                kind = "hosted" if index.type == HOSTED else "caching upstream"
                raise SettingsError(f"[indexes.{index.name}]: a {kind} index's name is a storage folder: use "
                                    "lower-case letters, digits and single '.', '_' or '-'") from None  # fmt: skip
