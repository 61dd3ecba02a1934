"""Who may do what in the tenant mirror.

"Admin" is a local notion for now (`is_staff`). Sign-in through Entra ID will replace it with the
`Admin` app role; keeping the test in this one place is what makes that swap a one-line change.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


def is_admin(user: AbstractBaseUser | AnonymousUser) -> bool:
    """True for users who may change things (start a sync); everyone else only reads."""
    return bool(user.is_authenticated and user.is_active and getattr(user, "is_staff", False))


def require_admin(request: HttpRequest) -> None:
    """Raise PermissionDenied (403) unless the signed-in user is an admin."""
    if not is_admin(request.user):
        raise PermissionDenied("Only admins may do this.")
