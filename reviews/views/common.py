"""What the review pages share: who may open what, and the queries that feed them."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404

from accounts.permissions import require_admin, require_reader

from .. import services
from ..models import (
    DECIDED,
    NEEDS_ATTENTION,
    Campaign,
    Cycle,
    ReviewItem,
)

QUEUE_SHOWS = ("pending", "decided", "all")
QUEUE_PER_PAGE = 50
RESULTS_PER_PAGE = 100
REVIEWERS_PER_PAGE = 50
CYCLES_PER_PAGE = 20
AUDIT_PER_PAGE = 50
# A review whose end is this close is flagged on "My reviews".
DUE_SOON = timedelta(days=3)


def _progress(cycles: QuerySet[Cycle]) -> QuerySet[Cycle]:
    """Cycles with `total`, `decided` and `attention` (removals failed or left to do by hand)
    item counts, in the same query: an applied cycle is not "done" while any remain. The three
    share one join, so nothing is counted twice and DISTINCT (a sort per cycle) is not needed."""
    return cycles.annotate(
        total=Count("items"),
        decided=Count("items", filter=Q(items__decision__in=DECIDED)),
        attention=Count("items", filter=Q(items__apply_status__in=NEEDS_ATTENTION)),
    )


def _campaign_for_reader(request: HttpRequest, pk: int) -> Campaign:
    require_reader(request)
    return get_object_or_404(Campaign.objects.select_related("tenant", "created_by"), pk=pk)


def _cycle_for_reader(request: HttpRequest, pk: int) -> Cycle:
    require_reader(request)
    return get_object_or_404(Cycle.objects.select_related("campaign__tenant"), pk=pk)


def _cycle_for_admin(request: HttpRequest, pk: int) -> Cycle:
    require_admin(request)
    return get_object_or_404(Cycle.objects.select_related("campaign"), pk=pk)


def _cycle_for_reviewer(request: HttpRequest, pk: int) -> tuple[Cycle, QuerySet[ReviewItem]]:
    """The cycle and this user's items in it; 404 when they were asked to review none of them,
    whatever their role, so that a queue never shows someone else's work."""
    cycle = get_object_or_404(Cycle.objects.select_related("campaign"), pk=pk)
    items = services.reviewer_items(request.user, cycle)
    if not items.exists():
        raise Http404("You have nothing to review in this cycle.")
    return cycle, items


def _item_for_reviewer(request: HttpRequest, pk: int) -> ReviewItem:
    item = (
        ReviewItem.objects.filter(pk=pk, reviewer_links__user=request.user)
        .select_related("cycle__campaign")
        .first()
    )
    if item is None:
        raise Http404("No such item among your reviews.")
    return item


def _display_items(items: QuerySet[ReviewItem]) -> QuerySet[ReviewItem]:
    """Everything an item row shows, joined up front: the page costs the same for 5 or 5000.
    Sorted by principal first (its id breaks ties between equal names), so that the queue's
    cards hold each principal's roles and permissions together."""
    return items.select_related("principal__application", "decided_by__entra").order_by(
        "principal_name", "principal_id", "role_name", "pk"
    )
