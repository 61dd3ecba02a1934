"""Where people land: the overview for admins and auditors, their reviews for reviewers."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from accounts.permissions import can_read_all, is_admin, require_reader
from identities.credentials import EXPIRY_WARNING_DAYS
from identities.services import configured_tenant

from ..models import (
    Cycle,
    Decision,
    ReviewItem,
)
from ..overview import build_overview
from .common import (
    DUE_SOON,
)


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Admins and auditors start at the overview, reviewers at their reviews."""
    if can_read_all(request.user):
        return redirect("overview")
    return redirect("reviews:my_reviews")


def _inventory_url(**filters: Any) -> str:
    return reverse("identities:inventory") + "?" + urlencode(filters)


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    """The tenant and its reviews at a glance, for admins and auditors."""
    require_reader(request)
    tenant = configured_tenant()
    data = build_overview(tenant)
    context = {
        "nav": "overview",
        "tenant": tenant,
        "has_synced": tenant is not None and tenant.last_synced_at is not None,
        "overview": data,
        "role_rows": [{"bar": bar, "url": _inventory_url(role=bar.role_id)} for bar in data.roles],
        "ownerless_url": _inventory_url(ownerless="on"),
        "inactive_url": _inventory_url(inactive="on"),
        "disabled_url": _inventory_url(disabled="on"),
        "inactive_days": settings.INACTIVE_DAYS,
        "expiry_warning_days": EXPIRY_WARNING_DAYS,
        "can_edit": is_admin(request.user),
        "now": timezone.now(),
    }
    return render(request, "reviews/overview.html", context)


@login_required
@require_GET
def my_reviews(request: HttpRequest) -> HttpResponse:
    rows = (
        ReviewItem.objects.filter(reviewer_links__user=request.user)
        .values("cycle")
        .annotate(total=Count("pk"), pending=Count("pk", filter=Q(decision=Decision.PENDING)))
    )
    counts = {row["cycle"]: row for row in rows}
    cycles = list(Cycle.objects.filter(pk__in=counts).select_related("campaign"))
    for cycle in cycles:
        cycle.total = counts[cycle.pk]["total"]
        cycle.pending = counts[cycle.pk]["pending"]
        cycle.decided = cycle.total - cycle.pending
    open_cycles = sorted((c for c in cycles if c.is_open), key=lambda c: (c.ends_at, c.pk))
    closed_cycles = sorted(
        (c for c in cycles if not c.is_open), key=lambda c: (c.ends_at, c.pk), reverse=True
    )
    now = timezone.now()
    for cycle in open_cycles:
        cycle.due_soon = bool(cycle.pending) and cycle.ends_at - now <= DUE_SOON
    context = {
        "nav": "my_reviews",
        "open_cycles": open_cycles,
        "closed_cycles": closed_cycles,
        "pending_total": sum(c.pending for c in open_cycles),
        "next_due": next((c for c in open_cycles if c.pending), None),
        "can_read_all": can_read_all(request.user),
    }
    return render(request, "reviews/my_reviews.html", context)
