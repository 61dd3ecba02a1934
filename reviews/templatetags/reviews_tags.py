"""Template helpers for the review pages."""

from __future__ import annotations

from typing import Any

from django import template
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from accounts import permissions
from accounts.people import person_label

register = template.Library()


@register.filter
def can_read_all(user: AbstractBaseUser | AnonymousUser) -> bool:
    """The same test the views use, so the navigation never offers a page that answers 403."""
    return permissions.can_read_all(user)


@register.filter
def is_auditor(user: AbstractBaseUser | AnonymousUser) -> bool:
    return permissions.is_auditor(user)


@register.filter
def person(user: Any) -> str:
    """How a person is named on pages; empty when nobody (not "system")."""
    return "" if user is None else person_label(user)


@register.filter
def percent(part: int | None, whole: int | None) -> int:
    """Whole percent of `part` in `whole`, 0 for an empty whole."""
    if not whole:
        return 0
    return int(100 * (part or 0) / whole)


_TIER_BADGES = {0: "badge-danger", 1: "badge-warning", 2: "badge-info"}


@register.filter
def tier_badge_class(tier: int | None) -> str:
    """The badge colour of a tier: Tier 0 reads as danger; unclassified as neutral."""
    return _TIER_BADGES.get(tier, "badge-neutral") if tier is not None else "badge-neutral"
