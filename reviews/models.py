"""Campaigns, their cycles, the snapshotted review items, and the append-only audit log.

State changes happen only in `reviews.services`; these classes hold data and derived state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from identities.models import Assignment, RoleDefinition, ServicePrincipal, Tenant

from .privileges import item_label, tier_words


class Frequency(models.TextChoices):
    ONCE = "once", "Once"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    SEMI_ANNUALLY = "semi_annually", "Semi-annually"
    ANNUALLY = "annually", "Annually"


class Campaign(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        ENDED = "ended", "Ended"

    class RoleScope(models.TextChoices):
        PRIVILEGED = "privileged", "All privileged roles and permissions"
        SELECTED = "selected", "Chosen roles and permissions"

    class Kinds(models.TextChoices):
        BOTH = "both", "Active and eligible"
        ACTIVE = "active", "Active only"
        ELIGIBLE = "eligible", "Eligible only"

    class Privileges(models.TextChoices):
        BOTH = "both", "Roles and application permissions"
        ROLES = "roles", "Directory roles only"
        PERMISSIONS = "permissions", "Application permissions only"

    class MaxTier(models.IntegerChoices):
        TIER_0 = 0, "Tier 0 only"
        TIER_1 = 1, "Tier 0 and Tier 1"

    class ReviewerMode(models.TextChoices):
        OWNERS = "owners", "Owners of each principal or its app registration (else fallback)"
        NAMED = "named", "Named reviewers"

    class EndMode(models.TextChoices):
        NEVER = "never", "Never"
        ON_DATE = "on_date", "On a date"
        AFTER_CYCLES = "after_cycles", "After a number of cycles"

    class Default(models.TextChoices):
        KEEP = "keep", "Keep access"
        REVOKE = "revoke", "Revoke access"
        RECOMMENDATION = "recommendation", "Follow the recommendation"

    class Justification(models.TextChoices):
        NONE = "none", "Not required"
        ON_APPROVE = "on_approve", "Required to approve"
        ALWAYS = "always", "Required for every decision"

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="campaigns")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=2000)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)

    role_scope = models.CharField(
        max_length=16, choices=RoleScope.choices, default=RoleScope.PRIVILEGED
    )
    roles = models.ManyToManyField(RoleDefinition, blank=True, related_name="+")
    kinds = models.CharField(max_length=16, choices=Kinds.choices, default=Kinds.BOTH)
    privileges = models.CharField(
        max_length=16, choices=Privileges.choices, default=Privileges.BOTH
    )
    # Only privileges classified at this tier or higher (0 highest); null = every privilege.
    max_tier = models.PositiveSmallIntegerField(null=True, blank=True, choices=MaxTier.choices)
    # Service-principal types in scope; empty means every type.
    principal_types = models.JSONField(default=list, blank=True)

    reviewer_mode = models.CharField(
        max_length=16, choices=ReviewerMode.choices, default=ReviewerMode.OWNERS
    )
    # Named reviewers, or the fallback for principals without a user owner.
    reviewers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")

    start_at = models.DateTimeField()
    frequency = models.CharField(max_length=16, choices=Frequency.choices, default=Frequency.ONCE)
    duration_days = models.PositiveIntegerField(default=14)
    end_mode = models.CharField(max_length=16, choices=EndMode.choices, default=EndMode.NEVER)
    end_date = models.DateField(null=True, blank=True)
    end_after_cycles = models.PositiveIntegerField(null=True, blank=True)
    # Days before a cycle's end on which reviewers with pending items are reminded.
    reminder_days = models.JSONField(default=list, blank=True)
    default_decision = models.CharField(
        max_length=16, choices=Default.choices, default=Default.KEEP
    )
    auto_apply = models.BooleanField(default=False)
    justification = models.CharField(
        max_length=16, choices=Justification.choices, default=Justification.ON_APPROVE
    )
    lookback_days = models.PositiveIntegerField(default=30)
    invitation_text = models.TextField(blank=True, max_length=2000)

    # Due column read by `tick`; null when no further cycle will start.
    next_start_at = models.DateTimeField(null=True, blank=True)
    cycles_started = models.PositiveIntegerField(default=0)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]
        indexes = [
            models.Index(
                fields=["next_start_at"],
                condition=Q(status="active"),
                name="campaign_due_to_start",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Cycle(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "In review"
        COMPLETED = "completed", "Completed"
        STOPPED = "stopped", "Stopped early"
        APPLYING = "applying", "Applying"
        APPLIED = "applied", "Applied"

    CLOSED = (Status.COMPLETED, Status.STOPPED, Status.APPLYING, Status.APPLIED)

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="cycles")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    scheduled_at = models.DateTimeField()
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    # Settings as they were when the cycle started; edits to the campaign apply to later cycles.
    frozen_settings = models.JSONField(default=dict)
    next_reminder_at = models.DateTimeField(null=True, blank=True)
    reminders_sent = models.PositiveIntegerField(default=0)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    apply_requested_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    # Counts apply requests and retries, so that each one's failures are reported once.
    apply_round = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-starts_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "number"], name="cycle_number_unique")
        ]
        indexes = [
            models.Index(fields=["ends_at"], condition=Q(status="active"), name="cycle_due_end"),
            models.Index(
                fields=["next_reminder_at"],
                condition=Q(status="active"),
                name="cycle_due_reminder",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign.name} #{self.number}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def is_closed(self) -> bool:
        return self.status in self.CLOSED

    def setting(self, name: str):
        """The campaign setting as it was when this cycle started."""
        return self.frozen_settings.get(name, getattr(self.campaign, name))

    def is_overdue(self, now: datetime | None = None) -> bool:
        return self.is_open and self.ends_at <= (now or timezone.now())


class Decision(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVE = "approve", "Approve"
    REVOKE = "revoke", "Revoke"
    DONT_KNOW = "dont_know", "Don't know"


# The decisions a reviewer can make; anything else is still pending.
DECIDED = (Decision.APPROVE, Decision.REVOKE, Decision.DONT_KNOW)


class Recommendation(models.TextChoices):
    APPROVE = "approve", "Approve"
    REVOKE = "revoke", "Revoke"


class Outcome(models.TextChoices):
    KEEP = "keep", "Keep"
    REVOKE = "revoke", "Revoke"


class ApplyStatus(models.TextChoices):
    NOT_NEEDED = "not_needed", "Nothing to apply"
    PENDING = "pending", "Waiting for apply"
    QUEUED = "queued", "Queued"
    APPLYING = "applying", "Applying"
    APPLIED = "applied", "Removed"
    ALREADY_GONE = "already_gone", "Already gone"
    FAILED = "failed", "Failed"
    MANUAL = "manual", "To do in Entra ID"
    # Granted again in Entra ID after the decision, found when a removal was retried.
    REGRANTED = "regranted", "Re-granted during apply — left in place"


# Removals an admin must look at: failed, or to be done by hand in Entra ID.
NEEDS_ATTENTION = (ApplyStatus.FAILED, ApplyStatus.MANUAL)


class ReviewItem(models.Model):
    """One assignment as it was when the cycle started, and what became of it."""

    cycle = models.ForeignKey(Cycle, on_delete=models.PROTECT, related_name="items")
    assignment = models.ForeignKey(Assignment, on_delete=models.PROTECT, related_name="+")
    principal = models.ForeignKey(ServicePrincipal, on_delete=models.PROTECT, related_name="+")
    # Snapshot: names as they were, and the Graph ids a removal needs.
    principal_object_id = models.CharField(max_length=64)
    principal_app_id = models.CharField(max_length=64, blank=True)
    principal_name = models.CharField(max_length=1024, blank=True)
    principal_type = models.CharField(max_length=32, blank=True)
    # "role" or "app_permission" (RoleDefinition.PrivilegeType); for a permission role_* is the
    # appRole id and value, and resource_* the API it belongs to (its DELETE needs the id).
    privilege_type = models.CharField(max_length=16, default="role")
    role_object_id = models.CharField(max_length=64)
    role_name = models.CharField(max_length=256)
    resource_object_id = models.CharField(max_length=64, blank=True, default="")
    resource_name = models.CharField(max_length=256, blank=True, default="")
    # The privilege's tier and why, as classified when the cycle started.
    tier = models.PositiveSmallIntegerField(null=True, blank=True)
    tier_reason = models.CharField(max_length=512, blank=True, default="")
    directory_scope_id = models.CharField(max_length=256)
    kind = models.CharField(max_length=16)
    granted_via = models.CharField(max_length=16)
    role_assignment_id = models.CharField(max_length=256, blank=True)
    # The PIM schedule reviewed: a grant made since carries another id and is never removed.
    schedule_id = models.CharField(max_length=256, blank=True)

    recommendation = models.CharField(max_length=16, choices=Recommendation.choices)
    recommendation_reason = models.CharField(max_length=512)

    decision = models.CharField(max_length=16, choices=Decision.choices, default=Decision.PENDING)
    justification = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    # "decision" when a reviewer decided, otherwise the default that was taken.
    outcome_source = models.CharField(max_length=32, blank=True)

    apply_status = models.CharField(
        max_length=16, choices=ApplyStatus.choices, default=ApplyStatus.NOT_NEEDED
    )
    apply_attempts = models.PositiveIntegerField(default=0)
    apply_started_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    apply_error_code = models.CharField(max_length=128, blank=True)
    apply_error = models.TextField(blank=True)
    apply_request_id = models.CharField(max_length=128, blank=True)
    # When the first removal request went to Graph: a retry that finds the grant gone knows
    # that request did it.
    removal_sent_at = models.DateTimeField(null=True, blank=True)
    # Set when the sync finds a revoked assignment granted again in Entra ID after removal.
    regranted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["principal_name", "role_name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["cycle", "assignment"], name="item_once_per_cycle")
        ]
        indexes = [
            models.Index(fields=["cycle", "decision"]),
            models.Index(fields=["cycle", "apply_status"]),
            # The tick looks for removals left queued or applying by a lost task or worker.
            models.Index(
                fields=["apply_status", "apply_started_at"],
                condition=Q(apply_status__in=["queued", "applying"]),
                name="item_apply_in_flight",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.principal_name} · {self.role_name}"

    @property
    def is_app_permission(self) -> bool:
        return self.privilege_type == RoleDefinition.PrivilegeType.APP_PERMISSION

    @property
    def scope_label(self) -> str:
        """A permission holds across its API (named here), a role at its directory scope."""
        if self.is_app_permission:
            return self.resource_name or self.resource_object_id or "API"
        return Assignment(directory_scope_id=self.directory_scope_id).scope_label

    @property
    def privilege_label(self) -> str:
        """ "RoleManagement.ReadWrite.Directory on Microsoft Graph (Tier 0)" or
        "Global Administrator (Tier 0)": how emails and audit events name the privilege."""
        return item_label(self)

    @property
    def tier_label(self) -> str:
        return tier_words(self.tier)

    def revoked_at(self) -> datetime | None:
        """When revoking became the outcome: the reviewer's decision, else the cycle's close
        (a default). Grants created since then are not the one that was decided."""
        if self.outcome_source == "decision" and self.decided_at:
            return self.decided_at
        return self.cycle.closed_at


class ItemReviewer(models.Model):
    """Who may decide an item: the principal's user owners, or the campaign's reviewers."""

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="reviewer_links")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # "owner", "fallback" or "named": why this person reviews this item.
    source = models.CharField(max_length=16)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "user"], name="item_reviewer_unique")
        ]
        indexes = [models.Index(fields=["user", "item"])]

    def __str__(self) -> str:
        return f"{self.user_id} reviews {self.item_id} ({self.source})"


class AuditEvent(models.Model):
    """Append-only: the database refuses UPDATE and DELETE on this table (see its migration).

    Each tenant's events form a hash chain (seq, prev_hash, hash; see reviews.audit_chain), so
    a row changed past the database's guard is found by `manage.py verify_audit`.
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
    )
    # The actor as they were named at the time ("system" for tasks), kept if the user goes.
    actor_label = models.CharField(max_length=256)
    action = models.CharField(max_length=64, db_index=True)
    tenant_id = models.CharField(max_length=64, blank=True)
    campaign_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    cycle_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    item_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    object_type = models.CharField(max_length=32, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    summary = models.CharField(max_length=512, blank=True)
    old = models.JSONField(null=True, blank=True)
    new = models.JSONField(null=True, blank=True)
    # Position in the tenant's chain (from 1), the previous event's hash, and this event's.
    seq = models.BigIntegerField()
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "seq"], name="reviews_audit_chain_seq")
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.actor_label}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A new event joins its chain whichever way it was created (record, objects.create)."""
        if self._state.adding and not self.hash:
            from .audit import append  # audit imports this module

            append([self])
            return
        super().save(*args, **kwargs)


class AuditHead(models.Model):
    """Each append's resulting chain head, kept apart from the events and append-only too.

    A chain cut short or rebuilt from scratch is internally consistent; these rows are what it
    no longer matches (see reviews.audit_chain.verify).
    """

    tenant_id = models.CharField(max_length=64, blank=True)
    seq = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["tenant_id", "seq"], name="reviews_audithead_chain")]

    def __str__(self) -> str:
        return f"{self.tenant_id or '(no tenant)'} #{self.seq} {self.hash[:12]}"


class EmailDelivery(models.Model):
    """One email to one person for one occasion: the claim that makes sending exactly-once.

    A sender inserts its rows with ON CONFLICT DO NOTHING under its own `claim` token and sends
    only the rows that carry that token; a failed send deletes its row so that a retry can send
    it. Not the audit log: rows are updated (sent_at) and deleted (released claims).
    """

    class Kind(models.TextChoices):
        INVITATION = "invitation", "Invitation"
        REMINDER = "reminder", "Reminder"
        COMPLETION = "completion", "Completion notice"
        FAILURE = "failure", "Failed removals notice"

    cycle = models.ForeignKey(Cycle, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Reminders: the scheduled reminder's number, or an admin's "send now" (see reviews.emails);
    # failure notices: the cycle's apply round; otherwise 0.
    round = models.PositiveIntegerField(default=0)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    claim = models.UUIDField(db_index=True)
    claimed_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["cycle", "kind", "round", "recipient"], name="email_once_per_round"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.round} of cycle {self.cycle_id} to {self.recipient_id}"
