"""Domain errors; the web layer maps each to one HTTP status and a one-line reason."""

from __future__ import annotations


class Refusal(Exception):
    """Base of every refusal the index explains to a client."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidDistribution(Refusal):
    """The uploaded file is not a valid wheel or sdist, or disagrees with itself or the form."""


class InvalidName(Refusal):
    """A project name, version or filename that the index will not accept."""


class FileExists(Refusal):
    """The filename is taken by other bytes (files are immutable)."""


class DigestMismatch(Refusal):
    """A digest the client sent does not match the bytes received."""


class BadRequest(Refusal):
    """A malformed request (missing field, unknown action)."""


class Unauthorized(Refusal):
    """Credentials are missing or wrong."""

    status = 401


class Forbidden(Refusal):
    """The principal may not do this."""

    status = 403


class NotFound(Refusal):
    """No such project, version or file (or not visible to the asker)."""

    status = 404


class Conflict(Refusal):
    """The request conflicts with the project's state (archived, quarantined)."""

    status = 409


class TooLarge(Refusal):
    """The upload exceeds the configured size limit."""

    status = 413


class TooManyRequests(Refusal):
    """Too many failed attempts; retry later."""

    status = 429

    def __init__(self, message: str, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamError(Refusal):
    """The upstream index failed and nothing cached can stand in."""

    status = 502
