"""Django users for Entra users, found by object id and created when first needed.

An owner who must review is known to us only from Graph's owner listing; sign-in later finds the
same user by the token's `oid`. Usernames are the oid, so a renamed or re-mailed person stays one
account and nobody can claim another's by choosing a name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from identities.graph.values import object_id, text
from identities.models import Tenant

from .models import EntraAccount


def user_owners(owners: Any) -> list[dict[str, str]]:
    """The owners that are users (a service principal owner cannot review), well-formed only."""
    found = []
    for owner in owners if isinstance(owners, list) else []:
        if not isinstance(owner, dict):
            continue
        # The sync stores the short type ("user"); Graph's listing says "#microsoft.graph.user".
        kind = str(owner.get("type") or owner.get("@odata.type") or "")
        oid = object_id(owner.get("id"))
        if kind.removeprefix("#microsoft.graph.") == "user" and oid:
            found.append(
                {
                    "id": oid,
                    "displayName": text(owner.get("displayName"), 256),
                    "userPrincipalName": text(owner.get("userPrincipalName"), 256),
                    "mail": text(owner.get("mail"), 256),
                }
            )
    return found


def users_for_entra(tenant: Tenant, people: Iterable[dict[str, str]]) -> dict[str, int]:
    """oid → Django user id for each person, creating missing users in two bulk statements.

    Existing accounts keep their row; their names and mail are refreshed from Graph.
    """
    wanted = {p["id"]: p for p in people}
    if not wanted:
        return {}
    user_model = get_user_model()
    with transaction.atomic():
        known = {
            a.object_id: a for a in EntraAccount.objects.filter(tenant=tenant, object_id__in=wanted)
        }
        missing = [oid for oid in wanted if oid not in known]
        if missing:
            user_model.objects.bulk_create(
                [
                    user_model(
                        username=oid,
                        email=wanted[oid]["mail"] or wanted[oid]["userPrincipalName"],
                        first_name=wanted[oid]["displayName"][:150],
                    )
                    for oid in missing
                ],
                ignore_conflicts=True,
            )
            user_ids = dict(
                user_model.objects.filter(username__in=missing).values_list("username", "pk")
            )
            EntraAccount.objects.bulk_create(
                [
                    EntraAccount(
                        user_id=user_ids[oid],
                        tenant=tenant,
                        object_id=oid,
                        user_principal_name=wanted[oid]["userPrincipalName"],
                        mail=wanted[oid]["mail"],
                        display_name=wanted[oid]["displayName"],
                    )
                    for oid in missing
                ],
                ignore_conflicts=True,
            )
        return dict(
            EntraAccount.objects.filter(tenant=tenant, object_id__in=wanted).values_list(
                "object_id", "user_id"
            )
        )


def person_label(user: Any) -> str:
    """How a person is named on pages and in the audit log."""
    if user is None:
        return "system"
    account = getattr(user, "entra", None)
    if account is not None:
        return account.user_principal_name or account.display_name or user.get_username()
    return user.get_username()
