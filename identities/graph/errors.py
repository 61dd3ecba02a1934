"""Typed failures of the Graph client: callers branch on class, status and Graph's code."""

from __future__ import annotations


class GraphError(Exception):
    """Graph answered with an error envelope, or could not be reached at all."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        request_id: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after

    @property
    def is_transient(self) -> bool:
        """Worth retrying later: throttling, a server-side hiccup, or no answer at all."""
        return self.status in (None, 429, 500, 502, 503, 504)

    def __str__(self) -> str:
        parts = [f"HTTP {self.status}" if self.status else "no response"]
        if self.code:
            parts.append(self.code)
        text = f"{' '.join(parts)}: {self.message}"
        if self.request_id:
            text += f" (request-id {self.request_id})"
        return text


class GraphNotFound(GraphError):
    """404: the object is gone (a removal counts this as already done)."""


class GraphForbidden(GraphError):
    """401/403 after a fresh token: a missing permission an admin must grant."""


class GraphConfigError(Exception):
    """The deployment is misconfigured; the message names the setting to fix."""


class GraphAuthError(GraphError):
    """The login authority refused us; the message names the setting to fix."""

    def __str__(self) -> str:
        if self.request_id:
            return f"{self.message} (request-id {self.request_id})"
        return self.message
