"""The inventory's rows and the filters reviewers narrow them with.

The page and the CSV export share both, so that a download is exactly what the screen showed.
"""

from __future__ import annotations

from datetime import timedelta

import django_filters
from django import forms
from django.conf import settings
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .bidi import isolate_text
from .models import Assignment, RoleDefinition, ServicePrincipal, Tenant


def inventory_queryset(tenant: Tenant | None) -> QuerySet[Assignment]:
    """Current privileged assignments of the tenant's service principals, ready to display.

    `principal__tenant` is joined because `ServicePrincipal.is_multi_tenant` reads the tenant id;
    without it every row would cost a query.
    """
    if tenant is None:
        return Assignment.objects.none()
    return (
        Assignment.objects.current()
        .filter(tenant=tenant, principal__tenant=tenant, role__is_privileged=True)
        .select_related("principal__tenant", "principal__application", "role")
        # Owners of the principal and of its app registration: either can act as it.
        .annotate(
            owners_of_both=F("principal__owner_count")
            + Coalesce(F("principal__application__owner_count"), Value(0))
        )
        .order_by("principal__display_name", "role__display_name", "directory_scope_id", "pk")
    )


def inactive_principals_q(now=None) -> Q:
    """Same rule as `ServicePrincipal.is_inactive`, as a query: unknown activity never counts."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.INACTIVE_DAYS)
    return Q(principal__sign_in_known=True) & (
        Q(principal__last_sign_in_at__isnull=True) | Q(principal__last_sign_in_at__lt=cutoff)
    )


def ownerless_principals_q() -> Q:
    """Nobody owns the principal or its app registration: nobody to ask, nobody accountable.

    An owner of either object can add a credential and act as the principal, and in most
    tenants the owners sit on the app registration, so both count."""
    return Q(principal__owner_count=0) & (
        Q(principal__application__isnull=True) | Q(principal__application__owner_count=0)
    )


# The tier filter's values: a tier number, or "none" for privileges the classification lacks.
UNCLASSIFIED = "none"
TIER_CHOICES = (
    ("0", "Tier 0"),
    ("1", "Tier 1"),
    ("2", "Tier 2"),
    (UNCLASSIFIED, "Unclassified"),
)


class YesFilter(django_filters.BooleanFilter):
    """A checkbox. Its method must narrow only when ticked: an unticked box arrives as False,
    which means "don't care", never "only the others"."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", forms.CheckboxInput)
        super().__init__(*args, **kwargs)


def privilege_label(role: RoleDefinition) -> str:
    """A role's name, or a permission's value with its API: Graph and Exchange both have a
    "full_access_as_app"-like name space, so the value alone can be ambiguous."""
    if role.is_app_permission and role.resource_name:
        return f"{isolate_text(role.display_name)} ({isolate_text(role.resource_name)})"
    return isolate_text(role.display_name)


class InventoryFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="filter_search",
        label="Search",
        widget=forms.TextInput(attrs={"placeholder": "Name, appId or object id", "type": "search"}),
    )
    role = django_filters.ModelChoiceFilter(
        queryset=RoleDefinition.objects.none(),
        label="Role or permission",
        empty_label="Any role or permission",
    )
    sp_type = django_filters.ChoiceFilter(
        field_name="principal__sp_type",
        label="Principal type",
        choices=ServicePrincipal.Type.choices,
        empty_label="Any type",
    )
    privilege_type = django_filters.ChoiceFilter(
        field_name="role__privilege_type",
        label="Privilege",
        choices=RoleDefinition.PrivilegeType.choices,
        empty_label="Roles and permissions",
    )
    tier = django_filters.ChoiceFilter(
        method="filter_tier", label="Tier", choices=TIER_CHOICES, empty_label="Any tier"
    )
    kind = django_filters.ChoiceFilter(choices=Assignment.Kind.choices, empty_label="Any kind")
    granted_via = django_filters.ChoiceFilter(
        label="Granted via", choices=Assignment.Granted.choices, empty_label="Any grant"
    )
    ownerless = YesFilter(method="filter_ownerless", label="No owner")
    inactive = YesFilter(method="filter_inactive", label="Inactive")
    disabled = YesFilter(method="filter_disabled", label="Disabled")

    class Meta:
        model = Assignment
        fields: list[str] = []

    def __init__(self, data=None, queryset=None, *, tenant: Tenant | None, **kwargs):
        super().__init__(data, queryset, **kwargs)
        roles = RoleDefinition.objects.none()
        if tenant is not None:
            roles = RoleDefinition.objects.filter(tenant=tenant, is_privileged=True)
        # Directory roles first ("role" sorts after "app_permission"), then permissions.
        self.filters["role"].queryset = roles.order_by("-privilege_type", "display_name", "pk")
        # Role names come from Graph: isolated, so one cannot reorder the options around it.
        self.filters["role"].field.label_from_instance = privilege_label

    @property
    def is_filtering(self) -> bool:
        """Whether any filter is in effect, so an empty page can say "clear the filters"."""
        if not self.is_bound:
            return False
        return any(self.data.get(name) not in (None, "") for name in self.filters)

    def filter_search(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return qs
        return qs.filter(
            Q(principal__display_name__icontains=value)
            | Q(principal__app_id__icontains=value)
            | Q(principal__object_id__icontains=value)
        )

    def filter_tier(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        if value == UNCLASSIFIED:
            return qs.filter(role__tier__isnull=True)
        return qs.filter(role__tier=int(value)) if value else qs

    def filter_ownerless(self, qs: QuerySet, name: str, value: bool) -> QuerySet:
        return qs.filter(ownerless_principals_q()) if value else qs

    def filter_inactive(self, qs: QuerySet, name: str, value: bool) -> QuerySet:
        return qs.filter(inactive_principals_q()) if value else qs

    def filter_disabled(self, qs: QuerySet, name: str, value: bool) -> QuerySet:
        return qs.filter(principal__account_enabled=False) if value else qs
