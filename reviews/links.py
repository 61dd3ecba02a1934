"""Signed links in review emails: they lead one reviewer to their queue of one cycle.

A link decides nothing and signs nobody in: the landing view only checks it and redirects, and
the queue behind it checks access again. The token names the reviewer (their Django user and
their Entra object id, or their username for a local account) and the cycle, and stops working
when the cycle ends, by the end date it was signed with and by the cycle's current state.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from .models import Cycle

SALT = "reviews.queue-link.v1"


class BadLink(Exception):
    """The token was changed, cut short, or does not match the account any more."""


class LinkExpired(Exception):
    """The review the link leads to has ended (its end date passed, or it was closed)."""


def _identity(user) -> tuple[str, str]:
    """("oid", object id) for an Entra user, else ("username", username)."""
    account = getattr(user, "entra", None)
    if account is not None and account.object_id:
        return "oid", account.object_id
    return "username", user.get_username()


def make_token(user, cycle: Cycle) -> str:
    kind, value = _identity(user)
    payload = {
        "u": user.pk,
        "k": kind,
        "i": value,
        "c": cycle.pk,
        "e": int(cycle.ends_at.timestamp()),
    }
    return signing.dumps(payload, salt=SALT, compress=True)


def make_link(user, cycle: Cycle) -> str:
    """The absolute URL (from SITE_URL) of the link for `user` in `cycle`."""
    path = reverse("reviews:link", args=[make_token(user, cycle)])
    return settings.SITE_URL.rstrip("/") + path


def read_link(token: str, *, now: datetime | None = None) -> tuple[int, int]:
    """(user_pk, cycle_pk) of a valid link; BadLink or LinkExpired otherwise."""
    try:
        payload = signing.loads(token, salt=SALT)
        user_pk, kind, value = int(payload["u"]), str(payload["k"]), str(payload["i"])
        cycle_pk, ends = int(payload["c"]), int(payload["e"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise BadLink("This link is damaged.") from exc
    now = now or timezone.now()
    if now.timestamp() >= ends:
        raise LinkExpired("This review has ended.")
    user = get_user_model().objects.select_related("entra").filter(pk=user_pk).first()
    if user is None or not _matches(user, kind, value):
        raise BadLink("This link does not belong to an account any more.")
    cycle = Cycle.objects.filter(pk=cycle_pk).only("status", "ends_at").first()
    if cycle is None:
        raise BadLink("This link leads to no review.")
    if not cycle.is_open or cycle.ends_at <= now:
        raise LinkExpired("This review has ended.")
    return user_pk, cycle_pk


def _matches(user, kind: str, value: str) -> bool:
    if kind == "oid":
        account = getattr(user, "entra", None)
        return account is not None and account.object_id == value
    # Signed for a local account: it stays valid if the person links Entra ID later.
    return kind == "username" and user.get_username() == value
