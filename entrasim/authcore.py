"""Types and constants shared by the login authority's modules (auth.py, interactive.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
HTML_CONTENT_TYPE = "text/html; charset=utf-8"


@dataclass
class AuthResponse:
    """One answer of the login authority: a JSON object, or an HTML page (body is a str)."""

    status: int
    body: dict[str, Any] | str
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_CONTENT_TYPE


class LoginError(Exception):
    """An Entra error answer (`error` + AADSTS code)."""

    def __init__(self, status: int, error: str, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.code, self.message = status, error, code, message
