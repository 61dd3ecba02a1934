"""Template helpers for the tenant-mirror pages."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from accounts import permissions
from identities.tables import duration_text

register = template.Library()


@register.filter
def is_admin(user: AbstractBaseUser | AnonymousUser) -> bool:
    """The same test the views use, so the page never offers what the server would refuse."""
    return permissions.is_admin(user)


@register.filter
def duration(value: timedelta | None) -> str:
    return duration_text(value)
