"""A reviewer's queue: the items, one decision at a time (htmx or a plain form), or all
recommendations at once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from identities.bidi import isolate_text
from identities.credentials import who_can_act

from .. import services
from ..forms import DecisionForm
from ..models import (
    Cycle,
    Decision,
    ReviewItem,
)
from .common import (
    DECIDED,
    QUEUE_PER_PAGE,
    QUEUE_SHOWS,
    _cycle_for_reviewer,
    _display_items,
    _item_for_reviewer,
)


def _queue_show(request: HttpRequest, cycle: Cycle, source: Any) -> str:
    show = source.get("show", "")
    if show in QUEUE_SHOWS:
        return show
    return "pending" if cycle.is_open else "all"


def _requested_page(source: Any) -> int:
    """The queue page a decision was made from (a hidden field of our own forms); 1 when it is
    missing or not a page number."""
    try:
        return max(int(source.get("page", 1)), 1)
    except (TypeError, ValueError):
        return 1


def _queue_pages(items: QuerySet[ReviewItem], show: str) -> Paginator:
    """The reviewer's items that the filter shows, page by page."""
    if show == "pending":
        items = items.filter(decision=Decision.PENDING)
    elif show == "decided":
        items = items.filter(decision__in=DECIDED)
    return Paginator(_display_items(items), QUEUE_PER_PAGE)


def _queue_url(cycle: Cycle, show: str, page: int = 1, item_pk: int | None = None) -> str:
    url = reverse("reviews:queue", args=[cycle.pk]) + f"?show={show}"
    if page > 1:
        url += f"&page={page}"
    return url + f"#item-{item_pk}" if item_pk else url


def _back_to_queue(
    request: HttpRequest, cycle: Cycle, show: str, item_pk: int | None = None
) -> HttpResponse:
    """Back to the filter and page the reviewer was on, or to the last page when their change
    left fewer pages (decided items leave the pending filter)."""
    page = _requested_page(request.POST)
    if page > 1:
        items = services.reviewer_items(request.user, cycle)
        page = min(page, _queue_pages(items, show).num_pages)
    return redirect(_queue_url(cycle, show, page, item_pk))


def _queue_progress(items: QuerySet[ReviewItem]) -> dict[str, int]:
    """Over all of the reviewer's items, whatever the filter and page."""
    counts = items.aggregate(total=Count("pk"), decided=Count("pk", filter=Q(decision__in=DECIDED)))
    return {"total": counts["total"], "decided": counts["decided"]}


@login_required
@require_GET
def queue(request: HttpRequest, pk: int) -> HttpResponse:
    cycle, items = _cycle_for_reviewer(request, pk)
    show = _queue_show(request, cycle, request.GET)
    page = _queue_pages(items, show).get_page(request.GET.get("page"))
    now = timezone.now()
    context = {
        "cards": _cards(page.object_list, now),
        "nav": "my_reviews",
        "cycle": cycle,
        "campaign": cycle.campaign,
        "page": page,
        "page_number": page.number,
        "items": page.object_list,
        "show": show,
        "query": urlencode({"show": show}),
        "progress": _queue_progress(items),
        "can_decide": cycle.is_open and cycle.ends_at > now,
        "justification_rule": cycle.setting("justification"),
        "default_decision": cycle.setting("default_decision"),
    }
    return render(request, "reviews/queue.html", context)


def _cards(items: Any, now: datetime) -> list[dict[str, Any]]:
    """The page's items, one card per service principal: its roles and permissions, each with
    its own decision, and the evidence about the principal once (who can act as it, its
    credentials and their findings). Items come sorted by principal; nothing is queried here
    (the principal and its app registration are joined in `_display_items`)."""
    cards: list[dict[str, Any]] = []
    for item in items:
        if not cards or cards[-1]["principal"].pk != item.principal_id:
            principal = item.principal
            cards.append(
                {
                    "principal": principal,
                    "first": item,
                    "items": [],
                    "who": who_can_act(principal, now),
                }
            )
        cards[-1]["items"].append(item)
    return cards


def _render_item(
    request: HttpRequest, item_pk: int, *, show: str, page: int, error: str = ""
) -> HttpResponse:
    """The item's block alone, for htmx; the progress line is swapped out of band."""
    item = _display_items(ReviewItem.objects.filter(pk=item_pk)).select_related("cycle__campaign")[
        0
    ]
    cycle = item.cycle
    context = {
        "item": item,
        "cycle": cycle,
        "show": show,
        "page_number": page,
        "error": error,
        "saved": not error,
        "can_decide": cycle.is_open and cycle.ends_at > timezone.now(),
        "justification_rule": cycle.setting("justification"),
        "progress": _queue_progress(services.reviewer_items(request.user, cycle)),
        "oob_progress": True,
    }
    return render(request, "reviews/_queue_item.html", context)


@login_required
@require_POST
def decide(request: HttpRequest, pk: int) -> HttpResponse:
    item = _item_for_reviewer(request, pk)
    cycle = item.cycle
    show = _queue_show(request, cycle, request.POST)
    form = DecisionForm(request.POST)
    error = ""
    if not form.is_valid():
        error = form.first_error()
    else:
        decision = form.cleaned_data["decision"]
        try:
            services.record_decision(
                item.pk, decision, form.cleaned_data["justification"], actor=request.user
            )
        except ReviewItem.DoesNotExist as exc:
            raise Http404("No such item among your reviews.") from exc
        except services.ReviewError as exc:
            error = str(exc)
    if request.htmx:
        # A refusal is an answer, not a failure: 200 with the message in the card, so htmx swaps
        # it in and the browser logs no failed request; the plain form gets a redirect either way.
        return _render_item(
            request, item.pk, show=show, page=_requested_page(request.POST), error=error
        )
    # Graph's names, isolated: a right-to-left override in one cannot turn the message around.
    names = f"{isolate_text(item.principal_name)} · {isolate_text(item.privilege_label)}"
    if error:
        messages.error(request, f"{names}: {error}")
    else:
        messages.success(request, f"{names}: {Decision(form.cleaned_data['decision']).label}")
    return _back_to_queue(request, cycle, show, item.pk)


@login_required
@require_POST
def accept_all(request: HttpRequest, pk: int) -> HttpResponse:
    cycle, _items = _cycle_for_reviewer(request, pk)
    try:
        count = services.accept_recommendations(cycle.pk, actor=request.user)
    except services.ReviewError as exc:
        messages.error(request, str(exc))
    else:
        if count:
            messages.success(
                request, f"Recommendation accepted for {count} item{pluralize(count)}."
            )
        else:
            messages.info(request, "Nothing was pending: no decision changed.")
    return _back_to_queue(request, cycle, _queue_show(request, cycle, request.POST))
