"""Blinker signals the index service sends after a change is committed (the audit log listens), and one it
sends inside an upload's transaction, before its commit."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# sender: the service; keyword arguments: project (normalised name) and filenames (list of str).
file_uploaded = _signals.signal("file-uploaded")  # also size (bytes)
# Sent before the upload's final commit with its session (keyword `session`): a receiver may add rows (the
# audit entry) that commit with the upload, in the same transaction, instead of in one of their own.
file_uploading = _signals.signal("file-uploading")
# Sent before a promotion's commit, as file_uploading; also source and target (index names).
files_promoting = _signals.signal("files-promoting")
files_deleted = _signals.signal("files-deleted")
files_yanked = _signals.signal("files-yanked")  # also yanked (bool) and reason (str)
project_status_changed = _signals.signal("project-status-changed")  # status and reason, no filenames
