"""Pages of the reviews: campaigns and cycles for admins and auditors, queues for reviewers.

Views check access, read rows and call `reviews.services` for every change; they never call
Graph. A refused change (`services.ReviewError`) is shown to the person as a message and the
page they came from is shown again, with nothing written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from identities.credentials import EXPIRY_WARNING_DAYS
from identities.permissions import can_read_all, is_admin, require_admin, require_reader
from identities.services import configured_tenant

from . import emails, services, tasks
from .export import audit_csv_response, results_csv_response
from .filters import AuditFilter, audit_queryset
from .forms import CampaignForm, DecisionForm
from .models import (
    ApplyStatus,
    AuditEvent,
    Campaign,
    Cycle,
    Decision,
    ItemReviewer,
    Outcome,
    ReviewItem,
)
from .overview import build_overview

DECIDED = (Decision.APPROVE, Decision.REVOKE, Decision.DONT_KNOW)
QUEUE_SHOWS = ("pending", "decided", "all")
QUEUE_PER_PAGE = 50
RESULTS_PER_PAGE = 100
AUDIT_PER_PAGE = 50
# A review whose end is this close is flagged on "My reviews".
DUE_SOON = timedelta(days=3)


# --- helpers ---------------------------------------------------------------------------------


NEEDS_ATTENTION = (ApplyStatus.FAILED, ApplyStatus.MANUAL)


def _progress(cycles: QuerySet[Cycle]) -> QuerySet[Cycle]:
    """Cycles with `total`, `decided` and `attention` (removals failed or left to do by hand)
    item counts, in the same query: an applied cycle is not "done" while any remain."""
    return cycles.annotate(
        total=Count("items", distinct=True),
        decided=Count("items", filter=Q(items__decision__in=DECIDED), distinct=True),
        attention=Count("items", filter=Q(items__apply_status__in=NEEDS_ATTENTION), distinct=True),
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


def _display_items(items: QuerySet[ReviewItem]) -> QuerySet[ReviewItem]:
    """Everything an item row shows, joined up front: the page costs the same for 5 or 5000."""
    return items.select_related("principal", "decided_by__entra").order_by(
        "principal_name", "role_name", "pk"
    )


# --- home and reviewer pages -----------------------------------------------------------------


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


@login_required
@require_GET
def queue(request: HttpRequest, pk: int) -> HttpResponse:
    cycle, items = _cycle_for_reviewer(request, pk)
    show = _queue_show(request, cycle, request.GET)
    page = _queue_pages(items, show).get_page(request.GET.get("page"))
    now = timezone.now()
    context = {
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
    if error:
        messages.error(request, f"{item.principal_name} · {item.role_name}: {error}")
    else:
        messages.success(
            request,
            f"{item.principal_name} · {item.role_name}: "
            f"{Decision(form.cleaned_data['decision']).label}",
        )
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


# --- campaigns -------------------------------------------------------------------------------


@login_required
@require_GET
def campaigns(request: HttpRequest) -> HttpResponse:
    require_reader(request)
    latest = Cycle.objects.filter(campaign=OuterRef("pk")).order_by("-number").values("pk")[:1]
    rows = list(Campaign.objects.annotate(latest_cycle_id=Subquery(latest)).order_by("name", "pk"))
    cycles = _progress(Cycle.objects.filter(pk__in=[c.latest_cycle_id for c in rows]))
    by_id = {cycle.pk: cycle for cycle in cycles}
    for campaign in rows:
        campaign.latest_cycle = by_id.get(campaign.latest_cycle_id)
    context = {"nav": "campaigns", "campaigns": rows, "can_edit": is_admin(request.user)}
    return render(request, "reviews/campaigns.html", context)


def _campaign_form_page(
    request: HttpRequest, form: CampaignForm | None, campaign: Campaign | None, tenant: Any
) -> HttpResponse:
    context = {"nav": "campaigns", "form": form, "campaign": campaign, "tenant": tenant}
    return render(request, "reviews/campaign_form.html", context)


@login_required
def campaign_new(request: HttpRequest) -> HttpResponse:
    require_admin(request)
    if request.method not in ("GET", "POST"):
        return HttpResponse(status=405)
    tenant = configured_tenant()
    if tenant is None or tenant.last_synced_at is None:
        # Roles and principals come from the sync: without one there is nothing to scope.
        return _campaign_form_page(request, None, None, None)
    instance = Campaign(tenant=tenant)
    if request.method == "POST":
        form = CampaignForm(request.POST, instance=instance, tenant=tenant)
        if form.is_valid():
            campaign = services.create_campaign(
                form.instance,
                roles=form.cleaned_data["roles"],
                reviewers=form.cleaned_data["reviewers"],
                actor=request.user,
            )
            if campaign.next_start_at and campaign.next_start_at <= timezone.now():
                tasks.start_soon()
                messages.success(
                    request, f"Campaign “{campaign.name}” created: its first review is starting."
                )
            else:
                messages.success(request, f"Campaign “{campaign.name}” scheduled.")
            return redirect("reviews:campaign_detail", pk=campaign.pk)
    else:
        form = CampaignForm(instance=instance, tenant=tenant)
    return _campaign_form_page(request, form, None, tenant)


@login_required
def campaign_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require_admin(request)
    if request.method not in ("GET", "POST"):
        return HttpResponse(status=405)
    campaign = get_object_or_404(Campaign.objects.select_related("tenant"), pk=pk)
    if campaign.status == Campaign.Status.ENDED:
        messages.error(request, "This campaign has ended; create a new one instead.")
        return redirect("reviews:campaign_detail", pk=campaign.pk)
    if request.method == "POST":
        form = CampaignForm(request.POST, instance=campaign, tenant=campaign.tenant)
        if form.is_valid():
            try:
                services.update_campaign(
                    campaign.pk,
                    form.changes(),
                    roles=form.cleaned_data["roles"],
                    reviewers=form.cleaned_data["reviewers"],
                    actor=request.user,
                )
            except services.ReviewError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, "Campaign saved; the changes apply from the next cycle.")
            return redirect("reviews:campaign_detail", pk=campaign.pk)
    else:
        form = CampaignForm(instance=campaign, tenant=campaign.tenant)
    return _campaign_form_page(request, form, campaign, campaign.tenant)


@login_required
@require_GET
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_for_reader(request, pk)
    context = {
        "nav": "campaigns",
        "campaign": campaign,
        "roles": list(campaign.roles.order_by("display_name")),
        "reviewers": list(campaign.reviewers.select_related("entra").order_by("username")),
        "cycles": list(_progress(campaign.cycles.order_by("-number"))),
        "can_edit": is_admin(request.user),
    }
    return render(request, "reviews/campaign_detail.html", context)


def _set_paused(request: HttpRequest, pk: int, paused: bool) -> HttpResponse:
    require_admin(request)
    campaign = get_object_or_404(Campaign, pk=pk)
    try:
        services.set_campaign_paused(campaign.pk, paused, actor=request.user)
    except services.ReviewError as exc:
        messages.error(request, str(exc))
    else:
        if not paused:
            tasks.start_soon()  # a start missed while paused begins now, not at the next minute
        messages.success(
            request,
            "Campaign paused: no new cycle starts until it is resumed."
            if paused
            else "Campaign resumed.",
        )
    return redirect("reviews:campaign_detail", pk=campaign.pk)


@login_required
@require_POST
def campaign_pause(request: HttpRequest, pk: int) -> HttpResponse:
    return _set_paused(request, pk, True)


@login_required
@require_POST
def campaign_resume(request: HttpRequest, pk: int) -> HttpResponse:
    return _set_paused(request, pk, False)


# --- cycles ----------------------------------------------------------------------------------


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
    )
    counts["decided"] = counts["total"] - counts["pending"]
    cycle.attention = counts["failed"]
    per_reviewer = list(
        ItemReviewer.objects.filter(item__cycle=cycle)
        .values("user")
        .annotate(
            total=Count("item"),
            decided=Count("item", filter=Q(item__decision__in=DECIDED)),
            by_them=Count("item", filter=Q(item__decided_by=F("user"))),
        )
        .order_by("user")
    )
    users = (
        get_user_model()
        .objects.select_related("entra")
        .in_bulk([row["user"] for row in per_reviewer])
    )
    for row in per_reviewer:
        row["person"] = users.get(row["user"])
        row["pending"] = row["total"] - row["decided"]
    now = timezone.now()
    is_running = cycle.is_open
    context = {
        "nav": "campaigns",
        "cycle": cycle,
        "campaign": cycle.campaign,
        "counts": counts,
        "per_reviewer": per_reviewer,
        "can_edit": is_admin(request.user),
        "is_running": is_running,
        "overdue": cycle.is_overdue(now),
        "default_label": Campaign.Default(cycle.setting("default_decision")).label,
        "can_apply": cycle.is_closed and counts["waiting"] > 0,
        "can_retry": counts["failed"] > 0,
    }
    return render(request, "reviews/cycle_detail.html", context)


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
        result = change(cycle.pk, actor=request.user)
    except services.ReviewError as exc:
        messages.error(request, str(exc))
    else:
        if nothing and not result:
            messages.info(request, nothing)
        else:
            messages.success(request, done(result))
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
    cycle = _cycle_for_admin(request, pk)
    if not cycle.is_open:
        messages.error(request, "This review is not running: there is nobody to remind.")
    else:
        sent = emails.send_reminders(cycle, actor=request.user)
        messages.success(
            request, f"{sent} reminder{pluralize(sent)} sent to reviewers with pending items."
        )
    return redirect("reviews:cycle_detail", pk=cycle.pk)


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


# --- results and audit log -------------------------------------------------------------------


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


def _audit_filter(request: HttpRequest) -> AuditFilter:
    # Always bound (an empty QueryDict is valid), so "no filters" and "bad filters" differ.
    return AuditFilter(request.GET, audit_queryset(), request=request)


@login_required
@require_GET
def audit(request: HttpRequest) -> HttpResponse:
    require_reader(request)
    filterset = _audit_filter(request)
    events = filterset.qs if filterset.is_valid() else AuditEvent.objects.none()
    page = Paginator(events, AUDIT_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "nav": "audit",
        "filter": filterset,
        "page": page,
        "events": page.object_list,
        "query": query.urlencode(),
    }
    return render(request, "reviews/audit.html", context)


@login_required
@require_GET
def audit_csv(request: HttpRequest) -> HttpResponse:
    require_reader(request)
    filterset = _audit_filter(request)
    if not filterset.is_valid():
        return HttpResponseBadRequest(
            "Invalid filter:\n" + filterset.form.errors.as_text(), content_type="text/plain"
        )
    return audit_csv_response(filterset.qs)
