"""Filters of the audit log page; the page and its CSV export share them."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import django_filters
from django import forms
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from .models import AuditEvent, Campaign


def audit_queryset() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.order_by("-at", "-pk")


# Each step finds the next code up with one probe of the action index (MIN over `action >`), so
# the list costs a probe per distinct code; SELECT DISTINCT would read the whole log, which
# grows by a row for every decision (150 ms at a million events, and on from there).
_ACTION_CODES_SQL = """
WITH RECURSIVE codes(action) AS (
    SELECT MIN(action) FROM reviews_auditevent
    UNION ALL
    SELECT (SELECT MIN(e.action) FROM reviews_auditevent e WHERE e.action > codes.action)
    FROM codes WHERE codes.action IS NOT NULL
)
SELECT action FROM codes WHERE action IS NOT NULL
"""


def _day_start(day: date) -> datetime:
    """Midnight at the start of `day` in the site's time zone, the zone `at__date` reads in."""
    return timezone.make_aware(datetime.combine(day, time.min))


def audit_action_codes() -> list[str]:
    """Every action code in the audit log, in order."""
    with connection.cursor() as cursor:
        cursor.execute(_ACTION_CODES_SQL)
        return [row[0] for row in cursor.fetchall()]


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
    # Bounds on `at` itself, not on its date: the index on `at` then finds the range at once
    # instead of reading every later event (a scan that grows with the log).
    since = django_filters.DateFilter(
        method="filter_since", label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = django_filters.DateFilter(
        method="filter_until", label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    class Meta:
        model = AuditEvent
        fields: list[str] = []

    def __init__(self, data=None, queryset=None, **kwargs):
        super().__init__(data, queryset, **kwargs)
        self.filters["action"].extra["choices"] = [(a, a) for a in audit_action_codes()]
        self.filters["campaign"].extra["choices"] = [
            (str(pk), name) for pk, name in Campaign.objects.values_list("pk", "name")
        ]

    def filter_since(self, qs: QuerySet, name: str, value: date) -> QuerySet:
        return qs.filter(at__gte=_day_start(value))

    def filter_until(self, qs: QuerySet, name: str, value: date) -> QuerySet:
        if value >= date.max:
            return qs  # the last day there is: nothing is later
        return qs.filter(at__lt=_day_start(value + timedelta(days=1)))

    @property
    def is_filtering(self) -> bool:
        if not self.is_bound:
            return False
        return any(self.data.get(name) not in (None, "") for name in self.filters)
