"""A privilege in words, wherever a review names one: the queue, the results, the CSV, emails,
audit events, and a campaign's scope.

Security people know an application permission by its value (RoleManagement.ReadWrite.Directory)
and the API it is granted on; a directory role by its name. The tier says how close it is to
Global Administrator.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from identities.bidi import isolate_text
from identities.tiers import tier_label

APP_PERMISSION = "app_permission"


# "Tier 0" … "Unclassified": one wording with the mirror's pages.
tier_words = tier_label


def privilege_type_words(privilege_type: str) -> str:
    return "Application permission" if privilege_type == APP_PERMISSION else "Directory role"


def privilege_label(
    name: str, privilege_type: str, resource_name: str = "", tier: int | None = None
) -> str:
    """ "RoleManagement.ReadWrite.Directory on Microsoft Graph (Tier 0)", or
    "Global Administrator (Tier 0)"; no tier suffix when the privilege is unclassified."""
    label = name
    if privilege_type == APP_PERMISSION and resource_name:
        label = f"{name} on {resource_name}"
    return f"{label} ({tier_words(tier)})" if tier is not None else label


def item_label(item: Any) -> str:
    """A review item's privilege in words (its snapshot, not today's mirror)."""
    return privilege_label(item.role_name, item.privilege_type, item.resource_name, item.tier)


def definition_choice_label(definition: Any) -> str:
    """How the campaign form lists a privilege definition: a permission with its API,
    e.g. "RoleManagement.ReadWrite.Directory (Microsoft Graph)"."""
    if definition.privilege_type == APP_PERMISSION:
        name = definition.value or definition.display_name
        api = definition.resource_name or definition.resource_app_id
        return f"{name} ({api})" if api else name
    return definition.display_name


def scope_label(privilege_type: str, resource_name: str, directory_scope_label: str) -> str:
    """Where the privilege applies: a permission's API (it holds tenant-wide on that API),
    a role's directory scope."""
    if privilege_type == APP_PERMISSION:
        return resource_name or "API"
    return directory_scope_label


_PRIVILEGES = {
    "both": "Directory roles and application permissions",
    "roles": "Directory roles only",
    "permissions": "Application permissions only",
}
_TIERS = {0: "Tier 0 only", 1: "Tier 0 and Tier 1 only"}
_KINDS = {
    "both": "active and eligible role assignments",
    "active": "active role assignments only",
    "eligible": "eligible role assignments only",
}


def scope_summary(
    *,
    privileges: str,
    max_tier: int | None,
    role_scope: str,
    kinds: str,
    principal_types: Iterable[str] | None,
    chosen: Iterable[str] = (),
) -> str:
    """A campaign's scope in one sentence, e.g. "Directory roles and application permissions,
    Tier 0 only; active and eligible role assignments; every service-principal type." """
    parts = [_PRIVILEGES.get(privileges, privileges)]
    if role_scope == "selected":
        names = list(chosen)
        parts[0] += ": " + (", ".join(names) if names else "none chosen")
    parts[0] += ", " + _TIERS.get(max_tier if max_tier is not None else -1, "every tier")
    sentence = parts[0]
    if privileges != "permissions":
        sentence += "; " + _KINDS.get(kinds, kinds)
    types = [str(t) for t in principal_types or []]
    sentence += "; " + (
        "service principals of type " + ", ".join(types)
        if types
        else "every service-principal type"
    )
    return sentence + "."


def campaign_scope(source: Any, chosen: Iterable[str] = ()) -> str:
    """The scope of a campaign, or of a cycle as it started (its frozen settings), in words."""
    get = source.setting if hasattr(source, "setting") else lambda name: getattr(source, name)
    return scope_summary(
        privileges=get("privileges") or "both",
        max_tier=get("max_tier"),
        role_scope=get("role_scope"),
        kinds=get("kinds"),
        principal_types=get("principal_types"),
        chosen=(isolate_text(name) for name in chosen),
    )
