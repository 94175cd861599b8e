"""The audit log: who uploaded, deleted, yanked, changed permissions or made tokens, when, from where."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import AuditEntry

log = logging.getLogger(__name__)
SECRET_WORDS = ("password", "secret", "token_text", "hash")


@dataclass(frozen=True)
class Actor:
    """Who acts and from where (a user and an address, or `cli` and `local`)."""

    name: str | None
    address: str = ""


def record(session: Session, actor: Actor, action: str, project: str | None = None, *, commit: bool = True,
           **detail: Any) -> None:  # fmt: skip
    """Add one entry and commit it, or with commit=False leave it to the caller's commit (the change it records
    and the entry then land together); secrets never reach the log: their keys are refused."""
    leaked = [k for k in detail if any(word in k for word in SECRET_WORDS)]
    if leaked:
        raise ValueError(f"audit details must not carry secrets: {leaked}")
    session.add(AuditEntry(actor=actor.name, address=actor.address[:64], action=action, project=project,
                           detail=detail))  # fmt: skip
    if commit:
        session.commit()
    log.info("audit: %s %s%s by %s from %s", action, project or "", f" {detail}" if detail else "",
             actor.name or "anonymous", actor.address or "?")  # fmt: skip


def entries(session: Session, *, limit: int = 100, project: str | None = None, actor: str | None = None,
            action: str | None = None, before: int | None = None) -> list[AuditEntry]:  # fmt: skip
    """Newest first, filtered; `before` pages by entry id."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(max(1, min(limit, 1000)))
    if project:
        query = query.where(AuditEntry.project == project)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action == action)
    if before:
        query = query.where(AuditEntry.id < before)
    return list(session.scalars(query))


def as_json(entry: AuditEntry) -> dict[str, Any]:
    """An entry for the API and `flaskpypi audit --json`."""
    at: datetime = entry.at
    return {"id": entry.id, "at": at.isoformat(), "actor": entry.actor, "address": entry.address,
            "action": entry.action, "project": entry.project, "detail": entry.detail or {}}  # fmt: skip
