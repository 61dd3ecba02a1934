"""Who may do what. The one place roles are decided, so sign-in can map app roles onto it.

Admin: `is_staff` (Entra app role `Admin`, or a local break-glass superuser). Auditor: member of
the `Auditor` group (app role `Auditor`): reads everything, changes nothing. Everyone else is a
reviewer who sees only the items they were asked to review.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import (
    AbstractBaseUser,
    AbstractUser,
    AnonymousUser,
    Group,
    PermissionsMixin,
)
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

AUDITOR_GROUP = "Auditor"
# App role values defined on the app registration (Entra ID: App roles). Case matters, as in Entra.
ADMIN_APP_ROLE = "Admin"
AUDITOR_APP_ROLE = "Auditor"


def is_admin(user: AbstractBaseUser | AnonymousUser) -> bool:
    """True for users who may change things (syncs, campaigns, apply)."""
    return bool(user.is_authenticated and user.is_active and getattr(user, "is_staff", False))


def is_auditor(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not (user.is_authenticated and user.is_active) or not isinstance(user, PermissionsMixin):
        return False
    cached: bool | None = getattr(user, "_spreview_is_auditor", None)
    if cached is None:
        cached = user.groups.filter(name=AUDITOR_GROUP).exists()
        user._spreview_is_auditor = cached  # type: ignore[attr-defined]  # kept for the request
    return cached


def can_read_all(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Admins and auditors see the whole mirror, every campaign and the audit log."""
    return is_admin(user) or is_auditor(user)


def require_admin(request: HttpRequest) -> None:
    """Raise PermissionDenied (403) unless the signed-in user is an admin."""
    if not is_admin(request.user):
        raise PermissionDenied("Only admins may do this.")


def require_reader(request: HttpRequest) -> None:
    """Raise PermissionDenied (403) unless the signed-in user is an admin or an auditor."""
    if not can_read_all(request.user):
        raise PermissionDenied("Only admins and auditors may see this.")


def apply_app_roles(user: AbstractUser, roles: Iterable[str]) -> list[str]:
    """Make the user's permissions exactly what their Entra app roles say.

    Called at every Entra sign-in, so a role removed in Entra ID is removed here too. Returns
    what changed ("+Admin", "-Auditor" …) for the sign-in log; an empty list when nothing did.
    """
    granted = set(roles)
    changes: list[str] = []
    wants_admin = ADMIN_APP_ROLE in granted
    if bool(user.is_staff) != wants_admin:
        user.is_staff = wants_admin
        user.save(update_fields=["is_staff"])
        changes.append(("+" if wants_admin else "-") + ADMIN_APP_ROLE)
    wants_auditor = AUDITOR_APP_ROLE in granted
    is_member = user.groups.filter(name=AUDITOR_GROUP).exists()
    if is_member != wants_auditor:
        if wants_auditor:
            group, _ = Group.objects.get_or_create(name=AUDITOR_GROUP)
            user.groups.add(group)
        else:
            user.groups.remove(*Group.objects.filter(name=AUDITOR_GROUP))
        changes.append(("+" if wants_auditor else "-") + AUDITOR_APP_ROLE)
    if hasattr(user, "_spreview_is_auditor"):
        del user._spreview_is_auditor
    return changes
