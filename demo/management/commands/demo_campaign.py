"""`manage.py demo_campaign`: the demo's sample campaign, with its first cycle in progress.

`manage.py demo` calls it after syncing the simulated tenant. It is idempotent: the campaign is
created (and its first cycle started) only when the tenant has none of that name, so restarting
the demo shows the same review. One owner has already decided some of their items, so that the
progress bars have something to show.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Q
from django.utils import timezone

from accounts.people import users_for_entra
from accounts.permissions import ADMIN_APP_ROLE, apply_app_roles
from identities.models import Tenant
from reviews import services
from reviews.models import Campaign, Cycle, Decision, Frequency, ItemReviewer, ReviewItem

NAME = "Quarterly review of privileged service principals"
DESCRIPTION = (
    "Every privileged Entra ID role and application permission held by a service principal, "
    "reviewed each quarter by the owners of the principal or its app registration. Principals "
    "without a user owner go to the fallback reviewer."
)
JUSTIFICATIONS = {
    Decision.APPROVE: "Checked with the team: still needed. {reason}",
    Decision.REVOKE: "Not needed any more. {reason}",
}


class Command(BaseCommand):
    help = "Create the demo's sample campaign and start its first cycle (once per tenant)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--tenant-id", default="", help="Entra tenant id (default: AZURE_TENANT_ID)"
        )
        parser.add_argument(
            "--admin-oid",
            required=True,
            help="object id of the Entra user holding the Admin app role: the fallback reviewer",
        )
        parser.add_argument("--admin-name", default="", help="their display name")
        parser.add_argument("--admin-upn", default="", help="their user principal name")
        parser.add_argument(
            "--no-decisions",
            action="store_true",
            help="leave every item pending (by default one owner has decided about half)",
        )
        parser.add_argument(
            "--json", action="store_true", help="print the summary as one JSON object"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant_id = (options["tenant_id"] or settings.AZURE_TENANT_ID or "").strip()
        tenant = Tenant.objects.filter(tenant_id=tenant_id).first() if tenant_id else None
        if tenant is None or tenant.last_synced_at is None:
            raise CommandError(f"tenant {tenant_id or '(none)'} has not been synced yet")

        campaign = Campaign.objects.filter(tenant=tenant, name=NAME).order_by("pk").first()
        created = campaign is None
        if created:
            admin = self._admin(tenant, options)
            campaign = self._create(tenant, admin)
            cycle = services.start_cycle(campaign.pk, actor=admin)
            if cycle is None:
                raise CommandError("the sample campaign's first cycle did not start")
            if not options["no_decisions"]:
                self._decide_some(cycle)
        cycle = campaign.cycles.order_by("-number").first()
        summary = _summary(campaign, cycle, created)
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            for line in summary_lines(summary):
                self.stdout.write(line)

    def _admin(self, tenant: Tenant, options: dict[str, Any]):
        from django.contrib.auth import get_user_model

        oid = options["admin_oid"].strip()
        person = {
            "id": oid,
            "displayName": options["admin_name"],
            "userPrincipalName": options["admin_upn"],
            "mail": options["admin_upn"],
        }
        user = get_user_model().objects.get(pk=users_for_entra(tenant, [person])[oid])
        # What signing in would do: the Admin app role makes them an admin here.
        apply_app_roles(user, [ADMIN_APP_ROLE])
        return user

    def _create(self, tenant: Tenant, admin) -> Campaign:
        campaign = Campaign(
            tenant=tenant,
            name=NAME,
            description=DESCRIPTION,
            role_scope=Campaign.RoleScope.PRIVILEGED,
            kinds=Campaign.Kinds.BOTH,
            principal_types=[],
            reviewer_mode=Campaign.ReviewerMode.OWNERS,
            start_at=timezone.now(),
            frequency=Frequency.QUARTERLY,
            duration_days=14,
            end_mode=Campaign.EndMode.NEVER,
            reminder_days=[7, 1],
            default_decision=Campaign.Default.RECOMMENDATION,
            auto_apply=False,
            justification=Campaign.Justification.ON_APPROVE,
            lookback_days=30,
        )
        campaign.full_clean(exclude=["created_by", "next_start_at"])
        return services.create_campaign(campaign, roles=[], reviewers=[admin], actor=admin)

    def _decide_some(self, cycle: Cycle) -> None:
        """The owner with the most items decides about half of them, as recommended."""
        busiest = (
            ItemReviewer.objects.filter(item__cycle=cycle, source="owner")
            .values("user")
            .annotate(items=Count("item"))
            .order_by("-items", "user")
            .first()
        )
        if busiest is None:
            return
        from django.contrib.auth import get_user_model

        reviewer = get_user_model().objects.get(pk=busiest["user"])
        items = list(services.reviewer_items(reviewer, cycle).order_by("pk"))
        for item in items[: max(1, len(items) // 2)]:
            justification = JUSTIFICATIONS[Decision(item.recommendation)].format(
                reason=item.recommendation_reason
            )
            services.record_decision(
                item.pk,
                item.recommendation,
                justification[: services.JUSTIFICATION_MAX],
                actor=reviewer,
            )


def _summary(campaign: Campaign, cycle: Cycle | None, created: bool) -> dict[str, Any]:
    """What the demo prints: the campaign, its latest cycle, and each reviewer's share."""
    summary: dict[str, Any] = {
        "campaign": campaign.name,
        "campaign_id": campaign.pk,
        "created": created,
        "frequency": campaign.get_frequency_display(),
        "cycle": None,
        "reviewers": [],
    }
    if cycle is None:
        return summary
    items = ReviewItem.objects.filter(cycle=cycle)
    summary["cycle"] = {
        "number": cycle.number,
        "status": cycle.get_status_display(),
        "ends_at": cycle.ends_at.isoformat(),
        "items": items.count(),
        "decided": items.exclude(decision=Decision.PENDING).count(),
    }
    rows = (
        ItemReviewer.objects.filter(item__cycle=cycle)
        .values("user", "user__entra__object_id", "user__entra__display_name", "user__username")
        .annotate(
            items=Count("item", distinct=True),
            decided=Count("item", filter=~Q(item__decision=Decision.PENDING), distinct=True),
            owned=Count("item", filter=Q(source="owner"), distinct=True),
        )
        .order_by("-items", "user__entra__display_name", "user")
    )
    summary["reviewers"] = [
        {
            "object_id": row["user__entra__object_id"] or "",
            "name": row["user__entra__display_name"] or row["user__username"],
            "items": row["items"],
            "decided": row["decided"],
            "as_owner": row["owned"],
        }
        for row in rows
    ]
    return summary


def summary_lines(summary: dict[str, Any]) -> list[str]:
    state = "created" if summary["created"] else "already there"
    lines = [f"Sample campaign “{summary['campaign']}” ({summary['frequency'].lower()}, {state})"]
    cycle = summary["cycle"]
    if cycle:
        lines.append(
            f"  cycle {cycle['number']}: {cycle['status'].lower()} until {cycle['ends_at'][:10]}, "
            f"{cycle['items']} items, {cycle['decided']} decided, "
            f"{len(summary['reviewers'])} reviewers"
        )
    return lines
