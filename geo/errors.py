"""The one error hierarchy of the domain layer; ``api/`` maps each class to an HTTP status once."""

from __future__ import annotations

from typing import Any


class GoldentimeError(Exception):
    """Base of every domain error. ``field`` names the offending input when there is one."""

    status_hint = 400

    def __init__(self, message: str, *, field: str | None = None, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.detail = detail

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": type(self).__name__, "message": self.message}
        if self.field:
            out["field"] = self.field
        if self.detail:
            out["detail"] = self.detail
        return out


class InvalidInput(GoldentimeError):
    """The caller gave a value that cannot be used (bad coordinate, malformed time, k out of range)."""

    status_hint = 422


class NotFound(GoldentimeError):
    """A referenced object (camera, incident, share, segment) does not exist."""

    status_hint = 404


class Unauthorized(GoldentimeError):
    """No or invalid credentials."""

    status_hint = 401


class Forbidden(GoldentimeError):
    """Authenticated, but the access rules (role, IP, share) refuse the action."""

    status_hint = 403


class TooManyRequests(GoldentimeError):
    """Too many attempts in a short time (failed logins); ``retry_after_s`` says when to retry."""

    status_hint = 429


class Conflict(GoldentimeError):
    """The action conflicts with the current state (duplicate, already closed)."""

    status_hint = 409


class Unreachable(GoldentimeError):
    """No path exists on the road network between the given places."""

    status_hint = 422


class Unavailable(GoldentimeError):
    """A dependency (video source, database) is down right now."""

    status_hint = 503


class LoadError(GoldentimeError):
    """A whole input file cannot be read (unknown layout, undecodable bytes)."""

    status_hint = 422
