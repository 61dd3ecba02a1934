"""The slice of OData the contract relies on: `$filter` (eq / in / and), `$select`, errors.

Anything outside that slice is refused with Graph's own error codes instead of being guessed at,
so a client that depends on an unsupported query learns it here and not in production.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from .tenant import iso, utcnow


class GraphError(Exception):
    """An error answer: HTTP status plus Graph's `code`, rendered as the standard envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def error_envelope(code: str, message: str, request_id: str, client_request_id: str) -> dict:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": iso(utcnow()),
                "request-id": request_id,
                "client-request-id": client_request_id,
            },
        }
    }


def parse_query(raw: str) -> list[tuple[str, str]]:
    """Decode the query string, keeping order and duplicates (Graph rejects duplicates)."""
    pairs = []
    for part in raw.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((unquote_plus(key), unquote_plus(value)))
    return pairs


@dataclass(frozen=True)
class Clause:
    field: str  # canonical property name
    values: frozenset[Any]


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<lp>\()|(?P<rp>\))|(?P<comma>,)|(?P<word>[A-Za-z0-9_./-]+))"
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise GraphError(400, "BadRequest", f"Invalid filter clause: syntax error at {pos}.")
        kind = match.lastgroup or ""
        value = match.group(kind)
        tokens.append((kind, value))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tokens


def _literal(kind: str, value: str) -> Any:
    if kind == "str":
        return value[1:-1].replace("''", "'")
    if kind == "word":
        lowered = value.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered == "null":
            return None
        try:  # GUID literals are accepted unquoted by some services
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise GraphError(400, "BadRequest", f"Invalid filter clause: unexpected literal {value!r}.")


def parse_filter(text: str, filterable: Mapping[str, str], type_name: str) -> list[Clause]:
    """Parse `a eq 'x' and b in ('y','z')`. filterable maps lower-case names to canonical ones.

    Unknown properties answer BadRequest (as Graph does); operators other than eq/in, `or`,
    `not` and functions answer Request_UnsupportedQuery.
    """
    tokens = _tokenize(text)
    clauses: list[Clause] = []
    i = 0

    def unsupported(detail: str) -> GraphError:
        return GraphError(400, "Request_UnsupportedQuery", f"Unsupported query: {detail}.")

    while i < len(tokens):
        kind, name = tokens[i]
        if kind != "word":
            raise unsupported(f"'{name}' in $filter")
        if i + 1 < len(tokens) and tokens[i + 1][0] == "lp":
            raise unsupported(f"function '{name}' in $filter")
        canonical = filterable.get(name.lower())
        if canonical is None:
            if "/" in name:
                raise unsupported(f"navigation property '{name}' in $filter")
            raise GraphError(
                400,
                "BadRequest",
                f"Could not find a property named '{name}' on type 'microsoft.graph.{type_name}'.",
            )
        if i + 2 >= len(tokens) or tokens[i + 1][0] != "word":
            raise GraphError(400, "BadRequest", "Invalid filter clause: incomplete expression.")
        op = tokens[i + 1][1].lower()
        if op == "eq":
            values = frozenset([_literal(*tokens[i + 2])])
            i += 3
        elif op == "in":
            if tokens[i + 2][0] != "lp":
                raise GraphError(400, "BadRequest", "Invalid filter clause: 'in' needs a list.")
            j, items = i + 3, []
            while True:
                if j >= len(tokens):
                    raise GraphError(400, "BadRequest", "Invalid filter clause: unclosed list.")
                items.append(_literal(*tokens[j]))
                j += 1
                if j < len(tokens) and tokens[j][0] == "comma":
                    j += 1
                    continue
                if j < len(tokens) and tokens[j][0] == "rp":
                    j += 1
                    break
                raise GraphError(400, "BadRequest", "Invalid filter clause: malformed list.")
            values = frozenset(items)
            i = j
        else:
            raise unsupported(f"operator '{op}' in $filter")
        clauses.append(Clause(canonical, values))
        if i < len(tokens):
            joiner = tokens[i][1].lower() if tokens[i][0] == "word" else tokens[i][1]
            if joiner != "and":
                raise unsupported(f"'{tokens[i][1]}' in $filter (only 'and' is supported)")
            i += 1
            if i >= len(tokens):
                raise GraphError(400, "BadRequest", "Invalid filter clause: dangling 'and'.")
    if not clauses:
        raise GraphError(400, "BadRequest", "Invalid filter clause: empty expression.")
    return clauses


def matches(obj: object, clauses: list[Clause], attributes: Mapping[str, str]) -> bool:
    """True when the record satisfies every clause; attributes maps property -> attribute."""
    return all(getattr(obj, attributes[c.field]) in c.values for c in clauses)


def parse_select(text: str | None, properties: frozenset[str], type_name: str) -> list[str] | None:
    """The selected property names (canonical case), or None to return every default."""
    if not text:
        return None
    by_lower = {p.lower(): p for p in properties}
    chosen = []
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            continue
        if name == "*":
            return None
        canonical = by_lower.get(name.lower())
        if canonical is None:
            raise GraphError(
                400,
                "BadRequest",
                f"Could not find a property named '{name}' on type 'microsoft.graph.{type_name}'.",
            )
        chosen.append(canonical)
    return chosen or None


def apply_select(obj: dict[str, Any], selected: list[str] | None) -> dict[str, Any]:
    if selected is None:
        return obj
    out = {k: obj[k] for k in ("@odata.type",) if k in obj}
    for name in selected:
        out[name] = obj.get(name)
    return out
