"""Lenient readers for values Graph sends: untrusted, sometimes odd, never worth a crash."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime


def graph_datetime(value: Any) -> datetime | None:
    """An aware datetime, or None for missing, garbled or placeholder (year 1) values."""
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        return None
    if parsed is None or parsed.year < 1900:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def text(value: Any, limit: int) -> str:
    """A string clipped to the column's size; non-strings become empty."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value) if isinstance(value, int | float) and not isinstance(value, bool) else ""
    return value.replace("\x00", "")[:limit]


def object_id(value: Any) -> str | None:
    """A Graph id we can key on: a non-empty string of sane length."""
    if isinstance(value, str) and 0 < len(value) <= 256 and "\x00" not in value:
        return value
    return None
