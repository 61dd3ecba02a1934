"""Creating, editing, pausing and resuming campaigns."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from .. import audit, schedule
from ..models import (
    Campaign,
)
from ..privileges import definition_choice_label
from .common import CAMPAIGN_FIELDS, ReviewError, _snapshot, _tenant_id

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def _next_start(campaign: Campaign) -> datetime | None:
    return schedule.next_start(
        campaign.start_at,
        campaign.frequency,
        campaign.cycles_started,
        end_mode=campaign.end_mode,
        end_date=campaign.end_date,
        end_after=campaign.end_after_cycles,
    )


@transaction.atomic
def create_campaign(
    campaign: Campaign, *, roles: Iterable, reviewers: Iterable, actor: User
) -> Campaign:
    """Save a validated, unsaved campaign and schedule its first cycle."""
    campaign.created_by = actor
    campaign.created_at = campaign.updated_at = timezone.now()
    campaign.cycles_started = 0
    campaign.status = Campaign.Status.ACTIVE
    campaign.next_start_at = _next_start(campaign)
    campaign.save()
    campaign.roles.set(roles)
    campaign.reviewers.set(reviewers)
    audit.record(
        "reviews.campaign.created",
        actor=actor,
        summary=f"Campaign {campaign.name} created",
        tenant_id=_tenant_id(campaign),
        campaign_id=campaign.pk,
        new={
            **_snapshot(campaign),
            "roles": sorted(definition_choice_label(r) for r in campaign.roles.all()),
            "reviewers": sorted(u.get_username() for u in campaign.reviewers.all()),
        },
    )
    return campaign


@transaction.atomic
def update_campaign(
    campaign_id: int, changes: dict[str, Any], *, roles: Iterable, reviewers: Iterable, actor: User
) -> Campaign:
    """Apply edited settings; they take effect from the next cycle on."""
    campaign = Campaign.objects.select_for_update().select_related("tenant").get(pk=campaign_id)
    old = {
        **_snapshot(campaign),
        "roles": sorted(definition_choice_label(r) for r in campaign.roles.all()),
        "reviewers": sorted(u.get_username() for u in campaign.reviewers.all()),
    }
    for name in CAMPAIGN_FIELDS:
        if name in changes:
            setattr(campaign, name, changes[name])
    campaign.updated_at = timezone.now()
    if campaign.status != Campaign.Status.PAUSED:
        # An ended campaign whose new schedule has more cycles to run becomes active again.
        campaign.next_start_at = _next_start(campaign)
        campaign.status = (
            Campaign.Status.ACTIVE if campaign.next_start_at else Campaign.Status.ENDED
        )
    campaign.save()
    campaign.roles.set(roles)
    campaign.reviewers.set(reviewers)
    new = {
        **_snapshot(campaign),
        "roles": sorted(definition_choice_label(r) for r in campaign.roles.all()),
        "reviewers": sorted(u.get_username() for u in campaign.reviewers.all()),
    }
    changed = {k for k in new if new[k] != old[k]}
    if changed:
        audit.record(
            "reviews.campaign.edited",
            actor=actor,
            summary=f"Campaign {campaign.name} edited: {', '.join(sorted(changed))}",
            tenant_id=_tenant_id(campaign),
            campaign_id=campaign.pk,
            old={k: old[k] for k in changed},
            new={k: new[k] for k in changed},
        )
    return campaign


@transaction.atomic
def set_campaign_paused(campaign_id: int, paused: bool, *, actor: User) -> Campaign:
    """Pause (no new cycles start) or resume; a running cycle is not touched."""
    campaign = Campaign.objects.select_for_update().select_related("tenant").get(pk=campaign_id)
    wanted = Campaign.Status.PAUSED if paused else Campaign.Status.ACTIVE
    if campaign.status == wanted:
        return campaign
    if campaign.status == Campaign.Status.ENDED:
        raise ReviewError("This campaign has ended.")
    old = campaign.status
    campaign.status = wanted
    if not paused:
        # Resuming does not replay missed cycles: the next one is the next due start.
        campaign.next_start_at = _next_start(campaign)
    campaign.save(update_fields=["status", "next_start_at"])
    audit.record(
        "reviews.campaign.paused" if paused else "reviews.campaign.resumed",
        actor=actor,
        summary=f"Campaign {campaign.name} {'paused' if paused else 'resumed'}",
        tenant_id=_tenant_id(campaign),
        campaign_id=campaign.pk,
        old={"status": old},
        new={"status": wanted},
    )
    return campaign
