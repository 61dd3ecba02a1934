"""The one Graph client: every call to Microsoft Graph goes through here."""

from .auth import GraphSettings, TokenProvider
from .client import GraphClient
from .errors import GraphAuthError, GraphConfigError, GraphError, GraphForbidden, GraphNotFound

__all__ = [
    "GraphAuthError",
    "GraphClient",
    "GraphConfigError",
    "GraphError",
    "GraphForbidden",
    "GraphNotFound",
    "GraphSettings",
    "TokenProvider",
]
