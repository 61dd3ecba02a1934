"""The tenant mirror: what the sync has read from Entra ID.

Rows are written only by `identities.sync` (bulk upserts keyed on Graph ids) and never deleted by
it: an assignment that disappears from Graph gets `removed_at`, so reviews and audits can still
point at it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .credentials import CredentialRow, credential_rows


class Tenant(models.Model):
    tenant_id = models.CharField(max_length=64, unique=True)
    display_name = models.CharField(max_length=256, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.display_name or self.tenant_id


class RoleDefinition(models.Model):
    """A privilege a service principal can hold: a directory role, or an application permission
    (an app role of a resource API such as Microsoft Graph). Both are reviewed the same way;
    `privilege_type` says which, and for a permission `resource_*` name the API it belongs to.
    """

    class PrivilegeType(models.TextChoices):
        ROLE = "role", "Directory role"
        APP_PERMISSION = "app_permission", "Application permission"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="roles")
    privilege_type = models.CharField(
        max_length=16, choices=PrivilegeType.choices, default=PrivilegeType.ROLE
    )
    # The role's id, or the permission's appRole id (unique only within its resource).
    object_id = models.CharField(max_length=64)
    # Application permissions: the resource API's service principal id, appId and name.
    resource_object_id = models.CharField(max_length=64, blank=True, default="")
    resource_app_id = models.CharField(max_length=64, blank=True, default="")
    resource_name = models.CharField(max_length=256, blank=True, default="")
    # Application permissions: the appRole's value, e.g. RoleManagement.ReadWrite.Directory.
    value = models.CharField(max_length=256, blank=True, default="")
    # 0 = a direct path to Global Administrator, 1 = broad data or configuration control,
    # 2 = lower; null = not in the classification. Set by the sync from identities.tiers.
    tier = models.PositiveSmallIntegerField(null=True, blank=True)
    tier_reason = models.CharField(max_length=512, blank=True, default="")
    # Which classification said so: "built-in" or the custom file's name.
    tier_source = models.CharField(max_length=256, blank=True, default="")
    template_id = models.CharField(max_length=64, blank=True)
    display_name = models.CharField(max_length=256)
    description = models.TextField(blank=True)
    is_built_in = models.BooleanField(default=True)
    is_enabled = models.BooleanField(default=True)
    is_privileged = models.BooleanField(default=False)
    # "graph" when the beta isPrivileged flag answered, "builtin_list" when we fell back.
    privileged_source = models.CharField(max_length=16, blank=True)
    last_seen_run = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "resource_object_id", "object_id"],
                name="privilege_unique_per_tenant",
            )
        ]
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def is_app_permission(self) -> bool:
        return self.privilege_type == self.PrivilegeType.APP_PERMISSION


class ServicePrincipal(models.Model):
    class Type(models.TextChoices):
        APPLICATION = "Application"
        MANAGED_IDENTITY = "ManagedIdentity"
        LEGACY = "Legacy"
        SOCIAL_IDP = "SocialIdp"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="principals")
    object_id = models.CharField(max_length=64)
    app_id = models.CharField(max_length=64, blank=True)
    display_name = models.CharField(max_length=1024, blank=True)
    app_display_name = models.CharField(max_length=1024, blank=True)
    sp_type = models.CharField(max_length=32, blank=True)
    account_enabled = models.BooleanField(default=True)
    app_owner_organization_id = models.CharField(max_length=64, blank=True)
    tags = models.JSONField(default=list, blank=True)
    # Credential metadata only: [{kind, keyId, displayName, type, usage, start, end}]; never a key.
    credentials = models.JSONField(default=list, blank=True)
    next_credential_expiry = models.DateTimeField(null=True, blank=True)
    # [{id, type, displayName, userPrincipalName, mail}] as Graph listed them.
    owners = models.JSONField(default=list, blank=True)
    owner_count = models.IntegerField(default=0)
    # The app registration behind an Application-type principal whose home is this tenant.
    # application_state: "" not read yet, "found", "none" (no registration in this tenant:
    # managed identities, apps of other organisations), "unreadable" (the read was refused).
    application = models.ForeignKey(
        "Application", null=True, blank=True, on_delete=models.SET_NULL, related_name="principals"
    )
    application_state = models.CharField(max_length=16, blank=True, default="")
    last_sign_in_at = models.DateTimeField(null=True, blank=True)
    # False until a sync could read sign-in activity for this principal's tenant.
    sign_in_known = models.BooleanField(default=False)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    details_synced_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    first_seen_run = models.BigIntegerField(default=0)
    last_seen_run = models.BigIntegerField(default=0)
    changed_run = models.BigIntegerField(default=0)
    sign_in_run = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "object_id"], name="sp_unique_per_tenant")
        ]
        indexes = [
            models.Index(fields=["tenant", "display_name"]),
            models.Index(fields=["tenant", "app_id"]),
            models.Index(fields=["tenant", "last_seen_run"]),
        ]
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name or self.object_id

    @property
    def is_multi_tenant(self) -> bool:
        return bool(self.app_owner_organization_id) and (
            self.app_owner_organization_id != self.tenant.tenant_id
        )

    def is_inactive(self, now=None) -> bool:
        """No sign-in within INACTIVE_DAYS; unknown activity is never called inactive."""
        if not self.sign_in_known:
            return False
        now = now or timezone.now()
        cutoff = now - timedelta(days=settings.INACTIVE_DAYS)
        return self.last_sign_in_at is None or self.last_sign_in_at < cutoff

    def credential_rows(self, now: datetime | None = None) -> list[CredentialRow]:
        """Secrets and certificates, soonest expiry first, each with its expiry status."""
        return credential_rows(self.credentials, now or timezone.now())

    def owner_rows(self) -> list[dict[str, str]]:
        """Owners as Graph listed them, the OData type shortened ("user", "servicePrincipal")."""
        items = self.owners if isinstance(self.owners, list) else []
        return [
            {
                "id": str(item.get("id") or ""),
                "type": str(item.get("type") or "").removeprefix("#microsoft.graph."),
                "display_name": str(item.get("displayName") or ""),
                "upn": str(item.get("userPrincipalName") or ""),
                "mail": str(item.get("mail") or ""),
            }
            for item in items
            if isinstance(item, dict)
        ]

    def tag_labels(self) -> list[str]:
        return [str(tag) for tag in self.tags] if isinstance(self.tags, list) else []


class Application(models.Model):
    """An app registration (application object): its owners can add credentials and so act
    as its service principal, and each credential is a way to sign in as it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="applications")
    object_id = models.CharField(max_length=64)  # differs from the principal's id
    app_id = models.CharField(max_length=64)
    display_name = models.CharField(max_length=1024, blank=True)
    # As ServicePrincipal.owners and .credentials: metadata only, never a key or secret.
    owners = models.JSONField(default=list, blank=True)
    owner_count = models.IntegerField(default=0)
    credentials = models.JSONField(default=list, blank=True)
    next_credential_expiry = models.DateTimeField(null=True, blank=True)
    # [{id, name, issuer, subject, audiences, description, claimsMatchingExpression}]
    federated_credentials = models.JSONField(default=list, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)
    first_seen_run = models.BigIntegerField(default=0)
    last_seen_run = models.BigIntegerField(default=0)
    changed_run = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "object_id"], name="app_unique_per_tenant")
        ]
        indexes = [models.Index(fields=["tenant", "app_id"])]
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name or self.app_id

    def credential_rows(self, now: datetime | None = None) -> list[CredentialRow]:
        return credential_rows(self.credentials, now or timezone.now())


class AssignmentQuerySet(models.QuerySet):
    def current(self) -> AssignmentQuerySet:
        return self.filter(removed_at__isnull=True)


class Assignment(models.Model):
    """One privilege held by one service principal: a directory role at one scope, or an
    application permission (kind and granted_via say so, scope "/", role is the permission)."""

    class Kind(models.TextChoices):
        ACTIVE = "active"
        ELIGIBLE = "eligible"
        APP_PERMISSION = "app_permission"

    class Granted(models.TextChoices):
        DIRECT = "direct", "Direct assignment"
        PIM = "pim", "PIM schedule"
        # An application permission: role_assignment_id holds the appRoleAssignment id.
        APP_ROLE = "app_role", "Application permission"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="assignments")
    principal = models.ForeignKey(
        ServicePrincipal, on_delete=models.CASCADE, related_name="assignments"
    )
    role = models.ForeignKey(RoleDefinition, on_delete=models.PROTECT, related_name="assignments")
    directory_scope_id = models.CharField(max_length=256, default="/")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    granted_via = models.CharField(max_length=16, choices=Granted.choices)
    # Graph ids needed to remove it: the roleAssignment id (DELETE) or the schedule id.
    role_assignment_id = models.CharField(max_length=256, blank=True)
    schedule_id = models.CharField(max_length=256, blank=True)
    assignment_type = models.CharField(max_length=16, blank=True)  # Assigned | Activated
    member_type = models.CharField(max_length=16, blank=True)  # Direct | Group
    starts_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)
    first_seen_run = models.BigIntegerField(default=0)
    last_seen_run = models.BigIntegerField(default=0)
    changed_run = models.BigIntegerField(default=0)
    # The run that listed it again after it had been removed (a re-grant); 0 if never.
    reappeared_run = models.BigIntegerField(default=0)
    # The run whose sweep would have removed it but held back (too large a share of the
    # mirror); 0 if not held. The next complete run that still does not list it removes it.
    sweep_held_run = models.BigIntegerField(default=0)

    objects = AssignmentQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "principal", "role", "directory_scope_id", "kind"],
                name="assignment_unique_privilege",
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "last_seen_run"]),
            models.Index(
                fields=["tenant", "role"],
                condition=Q(removed_at__isnull=True),
                name="assignment_current_by_role",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.principal_id} {self.role_id} {self.directory_scope_id} {self.kind}"

    @property
    def scope_label(self) -> str:
        if self.directory_scope_id in ("", "/"):
            return "Tenant"
        if self.directory_scope_id.startswith("/administrativeUnits/"):
            return "Administrative unit " + self.directory_scope_id.rsplit("/", 1)[-1]
        return "Object " + self.directory_scope_id.lstrip("/")


class SyncRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        # Taken for dead while it was still working: it stopped at its next write, swept nothing.
        LOST = "lost"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sync_runs")
    trigger = models.CharField(max_length=32, default="manual")  # schedule | manual | command
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    phase = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    pages = models.IntegerField(default=0)
    requests = models.IntegerField(default=0)
    assignments_seen = models.IntegerField(default=0)
    assignments_created = models.IntegerField(default=0)
    assignments_updated = models.IntegerField(default=0)
    assignments_removed = models.IntegerField(default=0)
    principals_seen = models.IntegerField(default=0)
    principals_created = models.IntegerField(default=0)
    principals_updated = models.IntegerField(default=0)
    roles_privileged = models.IntegerField(default=0)
    sign_in_activity = models.CharField(max_length=16, blank=True)  # read | unavailable
    # A sweep above SYNC_MAX_SWEEP_SHARE is held until a second complete read confirms it:
    # how many assignments were held, out of how many current ones.
    sweep_held = models.IntegerField(default=0)
    sweep_base = models.IntegerField(default=0)
    # Listed rows whose principal or key could not be read; their mirror rows were kept.
    rows_unreadable = models.IntegerField(default=0)
    notes = models.TextField(blank=True)
    error_code = models.CharField(max_length=128, blank=True)
    error_message = models.TextField(blank=True)
    request_id = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # Two syncs of one tenant never run at once: the database refuses the second.
            models.UniqueConstraint(
                fields=["tenant"],
                condition=Q(status="running"),
                name="one_running_sync_per_tenant",
            )
        ]

    def __str__(self) -> str:
        return f"sync {self.pk} {self.status}"

    @property
    def duration(self) -> timedelta | None:
        end = self.finished_at or (timezone.now() if self.status == self.Status.RUNNING else None)
        return end - self.started_at if end else None

    @property
    def is_running(self) -> bool:
        return self.status == self.Status.RUNNING

    @property
    def sweep_held_percent(self) -> int:
        """The held share of the mirror in whole percent (for the sync page)."""
        return round(100 * self.sweep_held / self.sweep_base) if self.sweep_base else 0
