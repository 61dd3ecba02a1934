"""One cycle: its progress per reviewer, the admin's actions on it, and its results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, F, Max, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import is_admin
from outbox import services as outbox

from .. import services
from ..export import results_csv_response
from ..models import (
    ApplyStatus,
    Campaign,
    Cycle,
    Decision,
    EmailDelivery,
    ItemReviewer,
    Outcome,
)
from ..privileges import campaign_scope, definition_choice_label
from .common import (
    DECIDED,
    NEEDS_ATTENTION,
    RESULTS_PER_PAGE,
    REVIEWERS_PER_PAGE,
    _cycle_for_admin,
    _cycle_for_reader,
    _display_items,
)


def _emails_by_person(cycle: Cycle, user_ids: list[int]) -> dict[int, tuple[Any, Any]]:
    """user id → (invitation sent at, last reminder sent at), in one query: an admin sees who
    was never reached (the mail server refused them past every retry) and can remind them."""
    rows = (
        EmailDelivery.objects.filter(cycle=cycle, sent_at__isnull=False, recipient__in=user_ids)
        .values("recipient")
        .annotate(
            invited=Max("sent_at", filter=Q(kind=EmailDelivery.Kind.INVITATION)),
            reminded=Max("sent_at", filter=Q(kind=EmailDelivery.Kind.REMINDER)),
        )
    )
    return {row["recipient"]: (row["invited"], row["reminded"]) for row in rows}


@login_required
@require_GET
def cycle_detail(request: HttpRequest, pk: int) -> HttpResponse:
    cycle = _cycle_for_reader(request, pk)
    counts = cycle.items.aggregate(
        total=Count("pk"),
        pending=Count("pk", filter=Q(decision=Decision.PENDING)),
        approve=Count("pk", filter=Q(decision=Decision.APPROVE)),
        revoke=Count("pk", filter=Q(decision=Decision.REVOKE)),
        dont_know=Count("pk", filter=Q(decision=Decision.DONT_KNOW)),
        to_revoke=Count("pk", filter=Q(outcome=Outcome.REVOKE)),
        waiting=Count("pk", filter=Q(apply_status=ApplyStatus.PENDING)),
        in_flight=Count(
            "pk", filter=Q(apply_status__in=(ApplyStatus.QUEUED, ApplyStatus.APPLYING))
        ),
        removed=Count(
            "pk", filter=Q(apply_status__in=(ApplyStatus.APPLIED, ApplyStatus.ALREADY_GONE))
        ),
        failed=Count("pk", filter=Q(apply_status__in=NEEDS_ATTENTION)),
        regranted=Count("pk", filter=Q(apply_status=ApplyStatus.REGRANTED)),
        permissions=Count("pk", filter=Q(privilege_type="app_permission")),
        tier0=Count("pk", filter=Q(tier=0)),
    )
    counts["roles"] = counts["total"] - counts["permissions"]
    counts["decided"] = counts["total"] - counts["pending"]
    cycle.attention = counts["failed"]
    # A page of reviewers at a time: a cycle of 20,000 items can have thousands of them.
    reviewers_page = Paginator(
        ItemReviewer.objects.filter(item__cycle=cycle)
        .values("user")
        .annotate(
            total=Count("item"),
            decided=Count("item", filter=Q(item__decision__in=DECIDED)),
            by_them=Count("item", filter=Q(item__decided_by=F("user"))),
        )
        .order_by("user"),
        REVIEWERS_PER_PAGE,
    ).get_page(request.GET.get("page"))
    per_reviewer = list(reviewers_page.object_list)
    user_ids = [row["user"] for row in per_reviewer]
    users = get_user_model().objects.select_related("entra").in_bulk(user_ids)
    emailed = _emails_by_person(cycle, user_ids)
    for row in per_reviewer:
        row["person"] = users.get(row["user"])
        row["invited_at"], row["reminded_at"] = emailed.get(row["user"], (None, None))
        row["pending"] = row["total"] - row["decided"]
    now = timezone.now()
    is_running = cycle.is_open
    context = {
        "nav": "campaigns",
        "cycle": cycle,
        "campaign": cycle.campaign,
        "counts": counts,
        "per_reviewer": per_reviewer,
        "reviewers_page": reviewers_page,
        "can_edit": is_admin(request.user),
        "is_running": is_running,
        "overdue": cycle.is_overdue(now),
        "default_label": Campaign.Default(cycle.setting("default_decision")).label,
        "can_apply": cycle.is_closed and counts["waiting"] > 0,
        "can_retry": counts["failed"] > 0,
        "scope": campaign_scope(cycle, _chosen_labels(cycle)),
        "attention_items": list(
            cycle.items.filter(apply_status__in=NEEDS_ATTENTION).order_by(
                "principal_name", "role_name", "pk"
            )[:ATTENTION_SHOWN]
        )
        if counts["failed"]
        else [],
    }
    return render(request, "reviews/cycle_detail.html", context)


# Removals to look at, listed by name on the cycle page (the results page has them all).
ATTENTION_SHOWN = 20


def _chosen_labels(cycle: Cycle) -> list[str]:
    """The campaign's chosen privileges (today's list: the cycle did not freeze it)."""
    if cycle.setting("role_scope") != Campaign.RoleScope.SELECTED:
        return []
    chosen = cycle.campaign.roles.order_by("-privilege_type", "resource_name", "display_name")
    return [definition_choice_label(r) for r in chosen]


def _cycle_action(
    request: HttpRequest,
    pk: int,
    change: Callable[..., Any],
    done: Callable[[Any], str],
    nothing: str = "",
) -> HttpResponse:
    """An admin's change to a cycle through `change(cycle_id, actor=…)`, then back to the cycle
    with what it did (`done(result)`, or `nothing` when it found nothing to do) or why it was
    refused."""
    cycle = _cycle_for_admin(request, pk)
    try:
        with outbox.watch() as queued:
            result = change(cycle.pk, actor=request.user)
    except services.ReviewError as exc:
        messages.error(request, str(exc))
    else:
        if nothing and not result:
            messages.info(request, nothing)
        else:
            messages.success(request, done(result))
        if queued.unsent():
            messages.warning(request, outbox.UNREACHABLE)
    return redirect("reviews:cycle_detail", pk=cycle.pk)


@login_required
@require_POST
def cycle_stop(request: HttpRequest, pk: int) -> HttpResponse:
    return _cycle_action(
        request,
        pk,
        services.stop_cycle,
        done=lambda _cycle: "Review stopped: undecided items took the default.",
    )


@login_required
@require_POST
def cycle_reset(request: HttpRequest, pk: int) -> HttpResponse:
    return _cycle_action(
        request,
        pk,
        services.reset_decisions,
        done=lambda count: f"{count} decision{pluralize(count)} reset to pending.",
    )


@login_required
@require_POST
def cycle_remind(request: HttpRequest, pk: int) -> HttpResponse:
    return _cycle_action(
        request,
        pk,
        services.request_reminders,
        done=lambda count: (
            f"Reminders are being sent to {count} reviewer{pluralize(count)} with pending items."
        ),
        nothing="No reviewer has pending items: there is nobody to remind.",
    )


@login_required
@require_POST
def cycle_apply(request: HttpRequest, pk: int) -> HttpResponse:
    return _cycle_action(
        request,
        pk,
        services.request_apply,
        done=lambda count: f"{count} removal{pluralize(count)} queued.",
        nothing="Nothing is waiting to be removed.",
    )


@login_required
@require_POST
def cycle_retry(request: HttpRequest, pk: int) -> HttpResponse:
    return _cycle_action(
        request,
        pk,
        services.retry_failed,
        done=lambda count: f"{count} failed removal{pluralize(count)} queued again.",
        nothing="No removal has failed: nothing to retry.",
    )


@login_required
@require_GET
def results(request: HttpRequest, pk: int) -> HttpResponse:
    cycle = _cycle_for_reader(request, pk)
    cycle.attention = cycle.items.filter(apply_status__in=NEEDS_ATTENTION).count()
    page = Paginator(_display_items(cycle.items.all()), RESULTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "nav": "campaigns",
        "cycle": cycle,
        "campaign": cycle.campaign,
        "page": page,
        "items": page.object_list,
    }
    return render(request, "reviews/results.html", context)


@login_required
@require_GET
def results_csv(request: HttpRequest, pk: int) -> HttpResponse:
    cycle = _cycle_for_reader(request, pk)
    return results_csv_response(cycle, _display_items(cycle.items.all()))
