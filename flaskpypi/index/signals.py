"""Blinker signals the index service sends after a change is committed (the audit log listens)."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# sender: the service; keyword arguments: project (normalised name) and filenames (list of str).
file_uploaded = _signals.signal("file-uploaded")
files_deleted = _signals.signal("files-deleted")
files_yanked = _signals.signal("files-yanked")  # also yanked (bool) and reason (str)
project_status_changed = _signals.signal("project-status-changed")  # status and reason, no filenames
