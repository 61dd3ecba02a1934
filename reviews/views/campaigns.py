"""Campaigns: the list, the form admins schedule reviews with, pause and resume."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import is_admin, require_admin, require_reader
from identities.services import configured_tenant
from outbox import services as outbox

from .. import services, tasks
from ..forms import CampaignForm
from ..models import (
    Campaign,
    Cycle,
)
from ..privileges import campaign_scope, definition_choice_label
from .common import (
    CYCLES_PER_PAGE,
    _campaign_for_reader,
    _progress,
)


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
                sent = tasks.start_soon()
                messages.success(
                    request, f"Campaign “{campaign.name}” created: its first review is starting."
                )
                if not sent:
                    messages.warning(request, outbox.UNREACHABLE)
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
    # A page of cycles, and their progress counted over that page's items only: a weekly
    # campaign gathers hundreds of cycles, each of thousands of items.
    cycles_page = Paginator(campaign.cycles.order_by("-number"), CYCLES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    shown = [cycle.pk for cycle in cycles_page.object_list]
    chosen = campaign.roles.order_by("-privilege_type", "resource_name", "display_name")
    labels = [definition_choice_label(r) for r in chosen]
    context = {
        "nav": "campaigns",
        "campaign": campaign,
        "role_labels": labels,
        "scope": campaign_scope(campaign, labels),
        "reviewers": list(campaign.reviewers.select_related("entra").order_by("username")),
        "cycles": list(_progress(Cycle.objects.filter(pk__in=shown)).order_by("-number")),
        "cycles_page": cycles_page,
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
        # A start missed while paused begins now, not at the next minute.
        sent = paused or tasks.start_soon()
        messages.success(
            request,
            "Campaign paused: no new cycle starts until it is resumed."
            if paused
            else "Campaign resumed.",
        )
        if not sent:
            messages.warning(request, outbox.UNREACHABLE)
    return redirect("reviews:campaign_detail", pk=campaign.pk)


@login_required
@require_POST
def campaign_pause(request: HttpRequest, pk: int) -> HttpResponse:
    return _set_paused(request, pk, True)


@login_required
@require_POST
def campaign_resume(request: HttpRequest, pk: int) -> HttpResponse:
    return _set_paused(request, pk, False)
