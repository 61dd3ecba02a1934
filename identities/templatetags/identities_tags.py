"""Template helpers for the tenant-mirror pages."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils.safestring import SafeString

from accounts import permissions
from identities import tables
from identities.models import RoleDefinition
from identities.tables import duration_text

register = template.Library()


@register.filter
def is_admin(user: AbstractBaseUser | AnonymousUser) -> bool:
    """The same test the views use, so the page never offers what the server would refuse."""
    return permissions.is_admin(user)


@register.filter
def duration(value: timedelta | None) -> str:
    return duration_text(value)


@register.filter
def tier_badge(role: RoleDefinition) -> SafeString:
    """A privilege's tier label, its reason on hover; pages that can print the reason do."""
    return tables.tier_badge(role.tier, role.tier_reason)
