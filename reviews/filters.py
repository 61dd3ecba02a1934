"""Filters of the audit log page; the page and its CSV export share them."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import QuerySet

from .models import AuditEvent, Campaign


def audit_queryset() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.order_by("-at", "-pk")


class AuditFilter(django_filters.FilterSet):
    action = django_filters.ChoiceFilter(label="Action", empty_label="Any action")
    campaign = django_filters.ChoiceFilter(
        field_name="campaign_id", label="Campaign", empty_label="Any campaign"
    )
    cycle = django_filters.NumberFilter(
        field_name="cycle_id",
        label="Cycle id",
        widget=forms.NumberInput(attrs={"min": 1}),
    )
    actor = django_filters.CharFilter(
        field_name="actor_label",
        lookup_expr="icontains",
        label="Actor",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name, UPN or system"}),
    )
    since = django_filters.DateFilter(
        field_name="at",
        lookup_expr="date__gte",
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = django_filters.DateFilter(
        field_name="at",
        lookup_expr="date__lte",
        label="To",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    class Meta:
        model = AuditEvent
        fields: list[str] = []

    def __init__(self, data=None, queryset=None, **kwargs):
        super().__init__(data, queryset, **kwargs)
        actions = AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct()
        self.filters["action"].extra["choices"] = [(a, a) for a in actions]
        self.filters["campaign"].extra["choices"] = [
            (str(pk), name) for pk, name in Campaign.objects.values_list("pk", "name")
        ]

    @property
    def is_filtering(self) -> bool:
        if not self.is_bound:
            return False
        return any(self.data.get(name) not in (None, "") for name in self.filters)
