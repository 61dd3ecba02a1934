"""Graph pages → rows: the privileged service-principal mirror of one tenant.

Order of work: role definitions → the privileged set → active and eligible assignments whose
principal is a service principal (users and groups are skipped) → those principals' details,
owners and sign-in activity → and only after every page was read, the sweep that marks
assignments not seen as removed. Each Graph page is written as it arrives (one transaction of
bulk statements), so memory stays at one page whatever the tenant's size. A run that fails
anywhere sweeps nothing.

The RUNNING SyncRun row is the tenant's lock, and it is also a fencing token: every write of a
run (each page, the sweep) first locks its own row in the same transaction and goes on only while
it still says RUNNING. The reaper therefore never takes a run in the middle of a page write, and
the next page sees that the lock was lost: the run stops with status LOST (`LockLost`) and sweeps
nothing, while the run started after it owns the mirror alone. A heartbeat thread with its own
connection keeps a live run fresh however slow Graph is, so only a dead worker goes stale, within
SYNC_STALE_AFTER_SECONDS.

Two more guards stand before the sweep: a listed row that cannot be read never counts as absent
(see `_readable_rows`), and a sweep that would remove more than SYNC_MAX_SWEEP_SHARE of the
mirror is held until a second complete read confirms it (see `finish`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.db.models import Count, Q
from django.utils import timezone

from .bulk import record_sign_ins, upsert
from .graph import GraphClient, GraphConfigError, GraphError, GraphForbidden
from .graph.directory import (
    ACTIVE_ASSIGNMENTS,
    APP_PERMISSION_GRANTS,
    ASSIGNMENT_SOURCES,
    DEFAULT_ACCESS_ROLE_ID,
    GET_BY_IDS_LIMIT,
    SERVICE_PRINCIPAL_TYPE,
    AppRegistration,
    AssignmentSource,
    Directory,
)
from .graph.values import graph_datetime, object_id, text
from .models import Application, Assignment, RoleDefinition, ServicePrincipal, SyncRun, Tenant
from .pipeline import map_ahead, read_ahead
from .privileged_roles import PRIVILEGED_TEMPLATE_IDS
from .services import request_sync
from .signals import assignments_reappeared, assignments_removed
from .tiers import Tier, classification

logger = logging.getLogger(__name__)

PRINCIPAL_BASIC_FIELDS = (
    "app_id",
    "display_name",
    "app_display_name",
    "sp_type",
    "account_enabled",
    "app_owner_organization_id",
    "tags",
)
PRINCIPAL_DETAIL_FIELDS = (
    *PRINCIPAL_BASIC_FIELDS,
    "credentials",
    "next_credential_expiry",
    "owners",
    "owner_count",
    "application",
    "application_state",
    "deleted_at",
)
APPLICATION_FIELDS = (
    "app_id",
    "display_name",
    "owners",
    "owner_count",
    "credentials",
    "next_credential_expiry",
    "federated_credentials",
    "deleted_at",
)
GRANT_FIELDS = ("granted_via", "role_assignment_id", "starts_at")
SCHEDULE_FIELDS = (
    "granted_via",
    "schedule_id",
    "assignment_type",
    "member_type",
    "starts_at",
    "expires_at",
)


class SyncAlreadyRunning(Exception):
    def __init__(self, run: SyncRun | None) -> None:
        super().__init__("a sync of this tenant is already running")
        self.run = run


class LockLost(Exception):
    """This run no longer holds the tenant's sync lock (it was taken for dead): it must stop."""


class UnreadableRow(Exception):
    """Graph listed a row whose privilege cannot be identified: the run fails, nothing is swept."""

    code = "UnreadableRow"

    def __init__(self, source: AssignmentSource, item: object, why: str) -> None:
        row_id = text(item.get("id"), 128) if isinstance(item, dict) else ""
        super().__init__(
            f"Graph listed a {source.name.replace('_', ' ')} row that cannot be read ({why}; "
            f"row id {row_id or 'missing'}). The run stopped and swept nothing; the mirror is "
            "unchanged until Graph lists it readably."
        )


LOST_MESSAGE = (
    "This run was taken for dead (its heartbeat was older than {stale} s) while it was still "
    "working. It stopped at its next write and swept nothing; what it had written stands and "
    "the next complete sync confirms it."
)


# --------------------------------------------------------------------------- run lifecycle


def configured_tenant_id() -> str:
    tenant_id = settings.AZURE_TENANT_ID.strip()
    if not tenant_id:
        raise GraphConfigError("AZURE_TENANT_ID is not set: give the Entra tenant id (a GUID).")
    return tenant_id


def reap_stale_runs(tenant: Tenant | None = None, *, now: datetime | None = None) -> int:
    """Fail runs whose worker stopped reporting: their lock must not block the next sync.

    A run whose row is locked is in the middle of a write (its fence holds the row), so it is
    passed over now and reaped by a later call once the write committed; its next write then
    sees the loss. Skipping instead of waiting keeps "Sync now" and the beat task from hanging
    behind a frozen worker's open transaction. `now` is the clock (tests pass a later one
    instead of sleeping through the stale window).
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SYNC_STALE_AFTER_SECONDS)
    with transaction.atomic():
        stale = SyncRun.objects.select_for_update(skip_locked=True).filter(
            status=SyncRun.Status.RUNNING, heartbeat_at__lt=cutoff
        )
        if tenant is not None:
            stale = stale.filter(tenant=tenant)
        return SyncRun.objects.filter(pk__in=list(stale.values_list("pk", flat=True))).update(
            status=SyncRun.Status.FAILED,
            finished_at=now,
            error_code="WorkerLost",
            error_message=(
                "The worker running this sync stopped reporting progress; nothing was swept. "
                "The next sync starts over."
            ),
        )


def start_run(tenant: Tenant, *, trigger: str, requested_by_id: int | None = None) -> SyncRun:
    """Create the RUNNING row that doubles as the tenant's sync lock."""
    reap_stale_runs(tenant)
    try:
        with transaction.atomic():
            return SyncRun.objects.create(
                tenant=tenant, trigger=trigger, requested_by_id=requested_by_id, phase="starting"
            )
    except IntegrityError:
        raise SyncAlreadyRunning(
            SyncRun.objects.filter(tenant=tenant, status=SyncRun.Status.RUNNING).first()
        ) from None


def sync_configured_tenant(
    *,
    trigger: str,
    requested_by_id: int | None = None,
    directory: Directory | None = None,
) -> SyncRun:
    """Sync the tenant named by AZURE_TENANT_ID; raises SyncAlreadyRunning or GraphConfigError."""
    tenant, _ = Tenant.objects.get_or_create(tenant_id=configured_tenant_id())
    name = settings.TENANT_DISPLAY_NAME.strip()[:256]
    if name and name != tenant.display_name:
        Tenant.objects.filter(pk=tenant.pk).update(display_name=name)
        tenant.display_name = name
    run = start_run(tenant, trigger=trigger, requested_by_id=requested_by_id)
    owns_client = directory is None
    try:
        if directory is None:
            directory = Directory(GraphClient.from_settings())
    except Exception as exc:
        _finish_failed(run, exc)
        raise
    try:
        return TenantSync(run, directory).run()
    finally:
        if owns_client:
            directory.client.close()


@contextmanager
def relaxed_commits() -> Iterator[None]:
    """Page writes without waiting for the disk flush of each commit (PostgreSQL).

    Every page is its own commit; waiting for each WAL flush would cost more than the write.
    A crash can lose only the last moments of page writes, and nothing relies on them: the run
    then never finishes, so nothing is swept, and the next run writes those rows again. The
    sweep and the run's outcome (`finish`) are committed with the usual durability.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


def _finish_failed(run: SyncRun, exc: BaseException) -> None:
    """Record the failure, unless the run was reaped meanwhile: then it is LOST, not failed."""
    if isinstance(exc, GraphError):
        code = exc.code or (f"HTTP{exc.status}" if exc.status else "Unreachable")
        message, request_id = str(exc), exc.request_id
    elif isinstance(exc, GraphConfigError):
        code, message, request_id = "Configuration", str(exc), ""
    elif isinstance(exc, UnreadableRow):
        code, message, request_id = exc.code, str(exc), ""
    else:
        code, message, request_id = "InternalError", f"{type(exc).__name__}: {exc}"[:2000], ""
    outcome = {
        "status": SyncRun.Status.FAILED,
        "error_code": code[:128],
        "error_message": message,
        "request_id": request_id[:128],
        "finished_at": timezone.now(),
        "notes": run.notes,
    }
    counters = ("pages", "requests", "assignments_seen", "principals_seen", "rows_unreadable")
    outcome.update({name: getattr(run, name) for name in counters})
    if SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(**outcome):
        for name, value in outcome.items():
            setattr(run, name, value)
    else:
        _mark_lost(run)


def _mark_lost(run: SyncRun) -> None:
    """The run lost its lock: say so on its row (never 'succeeded'), ending when it stopped."""
    SyncRun.objects.filter(pk=run.pk).exclude(status=SyncRun.Status.SUCCEEDED).update(
        status=SyncRun.Status.LOST,
        error_code="LockLost",
        error_message=LOST_MESSAGE.format(stale=settings.SYNC_STALE_AFTER_SECONDS),
        finished_at=timezone.now(),
    )
    fresh = SyncRun.objects.filter(pk=run.pk).first()
    if fresh is not None:
        run.__dict__.update(
            {f.attname: getattr(fresh, f.attname) for f in SyncRun._meta.concrete_fields}
        )


class Heartbeat:
    """Beats for one run from its own thread and database connection, whatever Graph's speed.

    A beat that finds its run no longer RUNNING (the reaper took it for dead) sets `lost`; the
    sync checks it after each page and before each write. PostgreSQL only: SQLite (the embedded
    demo) has one writer at a time, so there the sync's own progress updates are the heartbeat.
    """

    def __init__(self, run_pk: int, interval: float) -> None:
        self.run_pk = run_pk
        self.interval = max(0.05, interval)
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if connection.vendor == "postgresql":
            self._thread = threading.Thread(
                target=self._run, name=f"sync-heartbeat-{self.run_pk}", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                self.beat()
        finally:
            connections.close_all()  # this thread's connection only

    def beat(self) -> None:
        """One heartbeat; a run that is no longer RUNNING is marked lost for the sync to see."""
        try:
            if SyncRun.objects.filter(pk=self.run_pk, status=SyncRun.Status.RUNNING).update(
                heartbeat_at=timezone.now()
            ):
                return
            status = SyncRun.objects.filter(pk=self.run_pk).values_list("status", flat=True)
            # No row at all: not visible to this connection yet (or deleted, which the sync's
            # own fenced writes see); only a row that says so means the lock is gone.
            if status and status[0] != SyncRun.Status.RUNNING:
                self.lost.set()
        except DatabaseError:
            logger.warning("heartbeat of sync %s failed", self.run_pk, exc_info=True)
            connection.close()  # this thread's: the next beat reconnects


# --------------------------------------------------------------------------- row builders


def _principal_basic_row(tenant: Tenant, obj: dict[str, Any], now: datetime) -> dict[str, Any]:
    tags = obj.get("tags")
    return {
        "tenant": tenant.pk,
        "object_id": obj["id"],
        "app_id": text(obj.get("appId"), 64),
        "display_name": text(obj.get("displayName"), 1024),
        "app_display_name": text(obj.get("appDisplayName"), 1024),
        "sp_type": text(obj.get("servicePrincipalType"), 32),
        "account_enabled": obj.get("accountEnabled") is not False,
        "app_owner_organization_id": text(obj.get("appOwnerOrganizationId"), 64),
        "tags": [text(t, 256) for t in tags if isinstance(t, str)][:100]
        if isinstance(tags, list)
        else [],
        "deleted_at": None,
        "first_seen_at": now,
        "last_seen_at": now,
    }


def _credentials(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Credential metadata only; Graph's `key` and `secretText` are never copied."""
    found = []
    for kind, prop in (("certificate", "keyCredentials"), ("secret", "passwordCredentials")):
        items = obj.get(prop)
        for cred in items if isinstance(items, list) else []:
            if not isinstance(cred, dict):
                continue
            start, end = (
                graph_datetime(cred.get("startDateTime")),
                graph_datetime(cred.get("endDateTime")),
            )
            found.append(
                {
                    "kind": kind,
                    "keyId": text(cred.get("keyId"), 64),
                    "displayName": text(cred.get("displayName"), 256),
                    "type": text(cred.get("type"), 64),
                    "usage": text(cred.get("usage"), 64),
                    "hint": text(cred.get("hint"), 8) if kind == "secret" else "",
                    "start": start.isoformat() if start else None,
                    "end": end.isoformat() if end else None,
                }
            )
    return found[:200]


def _owner(item: dict[str, Any]) -> dict[str, Any]:
    odata_type = text(item.get("@odata.type"), 64).removeprefix("#microsoft.graph.")
    return {
        "id": text(item.get("id"), 64),
        "type": odata_type or "unknown",
        "displayName": text(item.get("displayName"), 256),
        "userPrincipalName": text(item.get("userPrincipalName"), 256),
        "mail": text(item.get("mail"), 256),
    }


def _next_expiry(credentials: list[dict[str, Any]], now: datetime) -> datetime | None:
    upcoming = [c["end"] for c in credentials if c["end"] and c["end"] >= now.isoformat()]
    return graph_datetime(min(upcoming)) if upcoming else None


def _principal_detail_row(
    tenant: Tenant, obj: dict[str, Any], owners: list[dict[str, Any]], now: datetime
) -> dict[str, Any]:
    row = _principal_basic_row(tenant, obj, now)
    credentials = _credentials(obj)
    owner_rows = [_owner(o) for o in owners if object_id(o.get("id"))][:100]
    row.update(
        credentials=credentials,
        next_credential_expiry=_next_expiry(credentials, now),
        owners=owner_rows,
        owner_count=len(owner_rows),
        details_synced_at=now,
    )
    return row


def _federated(item: dict[str, Any]) -> dict[str, Any]:
    """A federated identity credential: who (issuer + subject or pattern) may sign in as the app."""
    audiences = item.get("audiences")
    # beta: {"value": "claims['sub'] matches 'repo:org/*'", "languageVersion": 1}
    expression = item.get("claimsMatchingExpression")
    if isinstance(expression, dict):
        expression = expression.get("value")
    return {
        "id": text(item.get("id"), 64),
        "name": text(item.get("name"), 256),
        "issuer": text(item.get("issuer"), 1024),
        "subject": text(item.get("subject"), 1024),
        "audiences": [text(a, 256) for a in audiences if isinstance(a, str)][:20]
        if isinstance(audiences, list)
        else [],
        "description": text(item.get("description"), 1024),
        "claimsMatchingExpression": text(expression, 1024),
    }


def _application_row(tenant: Tenant, found: AppRegistration, now: datetime) -> dict[str, Any]:
    obj = found.application
    credentials = _credentials(obj)
    owners = [_owner(o) for o in found.owners if object_id(o.get("id"))][:100]
    return {
        "tenant": tenant.pk,
        "object_id": obj["id"],
        "app_id": text(obj.get("appId"), 64),
        "display_name": text(obj.get("displayName"), 1024),
        "owners": owners,
        "owner_count": len(owners),
        "credentials": credentials,
        "next_credential_expiry": _next_expiry(credentials, now),
        "federated_credentials": [_federated(c) for c in found.federated][:100],
        "deleted_at": None,
        "first_seen_at": now,
        "last_seen_at": now,
    }


def _has_registration(tenant: Tenant, obj: dict[str, Any]) -> bool:
    """Whether the principal's app registration lives in this tenant (so it can be read)."""
    home = obj.get("appOwnerOrganizationId")
    return (
        obj.get("servicePrincipalType") == ServicePrincipal.Type.APPLICATION
        and isinstance(home, str)
        and home.lower() == tenant.tenant_id.lower()
        and object_id(obj.get("appId")) is not None
    )


def _tier_fields(tier: Tier | None) -> dict[str, Any]:
    if tier is None:
        return {"tier": None, "tier_reason": "", "tier_source": ""}
    return {
        "tier": tier.tier,
        "tier_reason": text(tier.why, 512),
        "tier_source": text(tier.source, 256),
    }


@dataclass
class PrincipalDetails:
    """One batch of principals as Graph answered: objects and owners by principal id, app
    registrations by appId (None: not in this tenant; the dict None: the read was refused)."""

    found: dict[str, dict[str, Any]]
    owners: dict[str, list[dict[str, Any]]]
    registrations: dict[str, AppRegistration | None] | None = field(default_factory=dict)


@dataclass
class ResourceApi:
    """A monitored resource API as this run read it: its principal and its permissions."""

    object_id: str
    app_id: str
    name: str
    permissions: dict[str, int] = field(default_factory=dict)  # appRole id → definition pk


def _permission_definition(
    tenant: Tenant, resource: ResourceApi, role: dict[str, Any], run_id: int
) -> RoleDefinition:
    value = text(role.get("value"), 256)
    tier = classification().permission(resource.app_id, role["id"], value)
    return RoleDefinition(
        tenant=tenant,
        privilege_type=RoleDefinition.PrivilegeType.APP_PERMISSION,
        object_id=role["id"],
        resource_object_id=resource.object_id,
        resource_app_id=resource.app_id,
        resource_name=resource.name,
        value=value,
        display_name=value or role["id"],
        description=text(role.get("displayName") or role.get("description"), 4000),
        template_id="",
        is_built_in=True,
        is_enabled=role.get("isEnabled") is not False,
        is_privileged=True,
        privileged_source="",
        last_seen_run=run_id,
        **_tier_fields(tier),
    )


def _grant_row(
    tenant: Tenant, item: dict[str, Any], principal_pk: int, role_pk: int, now: datetime
) -> dict[str, Any]:
    return {
        "tenant": tenant.pk,
        "principal": principal_pk,
        "role": role_pk,
        "directory_scope_id": "/",
        "kind": APP_PERMISSION_GRANTS.kind,
        "granted_via": APP_PERMISSION_GRANTS.granted_via,
        "role_assignment_id": item["id"],
        "schedule_id": "",
        "assignment_type": "",
        "member_type": "",
        "starts_at": graph_datetime(item.get("createdDateTime")),
        "expires_at": None,
        "removed_at": None,
        "first_seen_at": now,
        "last_seen_at": now,
    }


def _upsert_listed_principals(principals: dict[str, dict[str, Any]], run_id: int) -> dict[str, int]:
    """Mark the principals a listing named as seen (creating new ones); object id → pk."""
    returned = upsert(
        ServicePrincipal,
        list(principals.values()),
        conflict=("tenant", "object_id"),
        update=("last_seen_at", "deleted_at"),
        compare=("deleted_at",),
        run_id=run_id,
        returning=("object_id", "id"),
    )
    return {r[0]: r[1] for r in returned}


def _assignment_row(
    tenant: Tenant,
    source: AssignmentSource,
    item: dict[str, Any],
    principal_pk: int,
    role_pk: int,
    now: datetime,
) -> dict[str, Any]:
    is_schedule = source is not ACTIVE_ASSIGNMENTS
    schedule = item.get("scheduleInfo") if isinstance(item.get("scheduleInfo"), dict) else {}
    expiration = schedule.get("expiration") if isinstance(schedule.get("expiration"), dict) else {}
    return {
        "tenant": tenant.pk,
        "principal": principal_pk,
        "role": role_pk,
        "directory_scope_id": text(item.get("directoryScopeId"), 256) or "/",
        "kind": source.kind,
        "granted_via": source.granted_via,
        "role_assignment_id": "" if is_schedule else item["id"],
        "schedule_id": item["id"] if is_schedule else "",
        "assignment_type": text(item.get("assignmentType"), 16),
        "member_type": text(item.get("memberType"), 16),
        "starts_at": graph_datetime(schedule.get("startDateTime")),
        "expires_at": graph_datetime(expiration.get("endDateTime")),
        "removed_at": None,
        "first_seen_at": now,
        "last_seen_at": now,
    }


def sign_in_note(exc: GraphError, pages_read: int) -> str:
    """What the run says when sign-in activity could not be read: the permission only for 403."""
    where = f" after {pages_read} page{'s' if pages_read != 1 else ''}" if pages_read else ""
    if exc.status == 403:
        cause = f"Graph refused it{where} (403 {exc.code}); grant AuditLog.Read.All to see it"
    else:
        cause = f"Graph answered {exc.status} {exc.code or 'without an error code'}{where}"
    return f"Sign-in activity unavailable: {cause}. Everything else was synced."


# --------------------------------------------------------------------------- the sync


class TenantSync:
    """One run over one tenant; every Graph page is one fenced transaction of bulk statements."""

    progress_interval = 1.0

    def __init__(self, run: SyncRun, directory: Directory) -> None:
        self.run_row = run
        self.tenant = run.tenant
        self.directory = directory
        self.started = time.monotonic()
        self._last_progress = 0.0
        self.notes: list[str] = []
        self.heartbeat = Heartbeat(run.pk, self.heartbeat_interval())
        # Keys of listed rows that could not be read, and how many such rows there were (a
        # grant of a permission the mirror never had leaves no key, but still counts).
        self.unreadable_keys: list[tuple[str, int, str, str]] = []
        self.unreadable_rows = 0
        self.registrations_refused = False

    @staticmethod
    def heartbeat_interval() -> float:
        # Never so slow that a live run could look stale between two beats.
        return min(settings.SYNC_HEARTBEAT_SECONDS, settings.SYNC_STALE_AFTER_SECONDS / 3)

    # the lock -------------------------------------------------------------------------------

    def _check_lock(self, *, exclusive: bool = False) -> None:
        """Raise LockLost unless this run's row still says RUNNING.

        Called inside a write's transaction, it locks the row (FOR NO KEY UPDATE; FOR UPDATE
        for the sweep) so that the reaper cannot take the run until the write committed, and
        the next write sees that the run was reaped.
        """
        if self.heartbeat.lost.is_set():
            raise LockLost
        status = list(
            SyncRun.objects.select_for_update(no_key=not exclusive)
            .filter(pk=self.run_row.pk)
            .values_list("status", flat=True)
        )
        if status != [SyncRun.Status.RUNNING]:
            raise LockLost

    @contextmanager
    def _fenced(self) -> Iterator[None]:
        """One transaction that writes only while this run still holds the tenant's lock."""
        with transaction.atomic():
            self._check_lock()
            yield

    # progress -----------------------------------------------------------------------------

    def _progress(self, phase: str | None = None, *, force: bool = False) -> None:
        """Publish counters and a heartbeat, at most once a second unless the phase changes.

        Raises LockLost as soon as the heartbeat saw the run reaped, or the row is no longer
        RUNNING: a run taken for dead stops reading Graph instead of finishing late.
        """
        if self.heartbeat.lost.is_set():
            raise LockLost
        run = self.run_row
        if phase is not None and phase != run.phase:
            run.phase = phase
            force = True
        now = time.monotonic()
        if not force and now - self._last_progress < self.progress_interval:
            return
        self._last_progress = now
        stats = self.directory.client.stats
        run.pages, run.requests = stats.pages, stats.requests
        run.heartbeat_at = timezone.now()
        published = SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(
            phase=run.phase,
            heartbeat_at=run.heartbeat_at,
            pages=run.pages,
            requests=run.requests,
            assignments_seen=run.assignments_seen,
            principals_seen=run.principals_seen,
        )
        if not published:
            raise LockLost

    # phases -------------------------------------------------------------------------------

    def run(self) -> SyncRun:
        with self.heartbeat:
            try:
                with relaxed_commits():
                    roles = self.sync_roles()
                    resources = self.sync_permission_definitions()
                    self.sync_assignments(roles)
                    self.sync_app_permissions(resources)
                    self._keep_unreadable()
                    self.sync_principal_details()
                    self.sync_sign_ins()
                self.finish()
            except LockLost:
                logger.warning(
                    "sync %s of tenant %s lost its lock (taken for dead): stopped, swept nothing",
                    self.run_row.pk,
                    self.tenant,
                )
                _mark_lost(self.run_row)
            except Exception as exc:
                logger.warning("sync %s of tenant %s failed: %s", self.run_row.pk, self.tenant, exc)
                _finish_failed(self.run_row, exc)
        return self.run_row

    def sync_roles(self) -> dict[str, int]:
        """Upsert all role definitions; return object id → pk of the privileged ones."""
        self._progress("role definitions")
        run_id = self.run_row.pk
        definitions: list[dict[str, Any]] = []
        for page in self.directory.role_definitions():
            definitions.extend(d for d in page if object_id(d.get("id")))
        flagged = self.directory.privileged_role_ids()
        source = "graph" if flagged is not None else "builtin_list"
        if flagged is None:
            self.notes.append(
                "Graph beta did not say which roles are privileged; used the built-in list."
            )
        rows = []
        for d in definitions:
            template_id = text(d.get("templateId"), 64)
            tier = classification().role(template_id or d["id"])
            is_privileged = (
                d["id"] in flagged
                if flagged is not None
                else (d.get("isBuiltIn") is not False and template_id in PRIVILEGED_TEMPLATE_IDS)
            )
            rows.append(
                RoleDefinition(
                    tenant=self.tenant,
                    object_id=d["id"],
                    template_id=template_id,
                    display_name=text(d.get("displayName"), 256),
                    description=text(d.get("description"), 4000),
                    is_built_in=d.get("isBuiltIn") is not False,
                    is_enabled=d.get("isEnabled") is not False,
                    is_privileged=is_privileged,
                    privileged_source=source,
                    last_seen_run=run_id,
                    **_tier_fields(tier),
                )
            )
        with self._fenced():
            self._write_roles(rows)
        privileged = dict(
            RoleDefinition.objects.filter(
                tenant=self.tenant, last_seen_run=run_id, is_privileged=True
            ).values_list("object_id", "pk")
        )
        self.run_row.roles_privileged = len(privileged)
        return privileged

    @staticmethod
    def _write_roles(rows: list[RoleDefinition]) -> None:
        RoleDefinition.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["tenant", "resource_object_id", "object_id"],
            update_fields=[
                "template_id",
                "display_name",
                "description",
                "is_built_in",
                "is_enabled",
                "is_privileged",
                "privileged_source",
                "tier",
                "tier_reason",
                "tier_source",
                "last_seen_run",
            ],
            batch_size=1000,
        )

    def sync_permission_definitions(self) -> dict[str, ResourceApi]:
        """Upsert the permissions (appRoles) of each monitored resource API; return them by the
        resource principal's id.

        A resource API without a principal in this tenant (404: e.g. no Exchange Online) is
        skipped and noted. Nobody can hold its permissions, so its grants in the mirror, if any,
        are no longer listed and the sweep removes them like any other unlisted privilege,
        behind the same guard: a share of the mirror above SYNC_MAX_SWEEP_SHARE waits for a
        second complete read, so a resource that only seemed gone for one run removes nothing.
        Any other failure to read a resource (403, 5xx after retries) fails the run.
        """
        self._progress("reading permission definitions")
        run_id = self.run_row.pk
        resources: dict[str, ResourceApi] = {}
        rows: list[RoleDefinition] = []
        missing: list[str] = []
        for app_id in settings.APP_PERMISSION_RESOURCES:
            found = self.directory.resource_principal(app_id)
            if found is None:
                missing.append(app_id)
                continue
            resource_id = object_id(found.get("id"))
            if resource_id is None:
                raise UnreadableRow(APP_PERMISSION_GRANTS, found, f"resource {app_id} has no id")
            resource = ResourceApi(
                object_id=resource_id,
                app_id=(object_id(found.get("appId")) or app_id).lower(),
                name=text(found.get("displayName"), 256),
            )
            resources[resource_id] = resource
            app_roles = found.get("appRoles")
            for role in app_roles if isinstance(app_roles, list) else []:
                if not isinstance(role, dict) or object_id(role.get("id")) is None:
                    continue
                if role["id"] == DEFAULT_ACCESS_ROLE_ID:
                    continue
                rows.append(_permission_definition(self.tenant, resource, role, run_id))
        if missing:
            self.notes.append(
                f"No service principal in this tenant for the resource API"
                f"{'s' if len(missing) != 1 else ''} {', '.join(missing)}: skipped (nobody can "
                "hold its permissions)."
            )
        with self._fenced():
            self._write_permission_definitions(rows)
        self._load_permissions(resources.values())
        return resources

    @staticmethod
    def _write_permission_definitions(rows: list[RoleDefinition]) -> None:
        RoleDefinition.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["tenant", "resource_object_id", "object_id"],
            update_fields=[
                "privilege_type",
                "resource_app_id",
                "resource_name",
                "value",
                "display_name",
                "description",
                "is_enabled",
                "is_privileged",
                "tier",
                "tier_reason",
                "tier_source",
                "last_seen_run",
            ],
            batch_size=1000,
        )

    def _load_permissions(self, resources: Iterable[ResourceApi]) -> None:
        """Every known permission of these resources, including ones first met on a grant."""
        by_id = {r.object_id: r for r in resources}
        if not by_id:
            return
        for resource_id, role_id, pk in RoleDefinition.objects.filter(
            tenant=self.tenant,
            privilege_type=RoleDefinition.PrivilegeType.APP_PERMISSION,
            resource_object_id__in=list(by_id),
        ).values_list("resource_object_id", "object_id", "pk"):
            by_id[resource_id].permissions[role_id] = pk

    def sync_assignments(self, roles: dict[str, int]) -> None:
        for source in ASSIGNMENT_SOURCES:
            self._progress(f"reading {source.name.replace('_', ' ')}")
            for page in read_ahead(self.directory.assignment_pages(source, roles)):
                self._write_assignment_page(source, page, roles)
                self._progress()

    def _readable_rows(
        self, source: AssignmentSource, page: list[Any], roles: dict[str, int]
    ) -> list[dict[str, Any]]:
        """The page's privileged service-principal rows; users, groups and other roles skipped.

        A row whose principal cannot be identified (principal null, without `@odata.type` or
        id, an id that is not one) is never taken as absent: when its key is readable
        (principalId, roleDefinitionId, directoryScopeId) the mirror's assignment with that key
        is kept as seen and the run says how many rows it could not read; when even the key
        cannot be read (not an object, roleDefinitionId or directoryScopeId of the wrong type,
        no principalId) the run fails with UnreadableRow, naming the listing and the row id,
        because such a row could stand for any assignment and no sweep would be safe.
        """
        wanted: list[dict[str, Any]] = []
        for item in page:
            if not isinstance(item, dict):
                raise UnreadableRow(source, item, "not an object")
            role_id = item.get("roleDefinitionId")
            scope = item.get("directoryScopeId")
            if not isinstance(role_id, str):
                raise UnreadableRow(source, item, "roleDefinitionId is not a string")
            if scope is not None and not isinstance(scope, str):
                raise UnreadableRow(source, item, "directoryScopeId is not a string")
            if role_id not in roles:
                continue  # not a privileged role
            principal = item.get("principal")
            principal_type = principal.get("@odata.type") if isinstance(principal, dict) else None
            if isinstance(principal_type, str) and principal_type != SERVICE_PRINCIPAL_TYPE:
                continue  # users and groups are not service principals
            if source is not ACTIVE_ASSIGNMENTS and item.get("memberType") == "Group":
                continue  # inherited through a group: the group's assignment is the privilege
            if (
                not isinstance(principal_type, str)
                or not object_id(item.get("id"))
                or not object_id(principal.get("id"))
            ):
                principal_id = object_id(item.get("principalId")) or (
                    object_id(principal.get("id")) if isinstance(principal, dict) else None
                )
                if principal_id is None:
                    raise UnreadableRow(source, item, "no readable principal or principalId")
                key = (principal_id, roles[role_id], text(scope, 256) or "/", source.kind)
                self.unreadable_keys.append(key)
                self.unreadable_rows += 1
                continue
            wanted.append(item)
        return wanted

    def _keep_unreadable(self) -> None:
        """Mark the mirror's assignments behind unreadable rows as seen, and say so on the run."""
        keys = sorted(set(self.unreadable_keys))
        if not self.unreadable_rows:
            return
        kept = 0
        for start in range(0, len(keys), 500):
            match = Q()
            for principal_id, role_pk, scope, kind in keys[start : start + 500]:
                match |= Q(
                    principal__object_id=principal_id,
                    role_id=role_pk,
                    directory_scope_id=scope,
                    kind=kind,
                )
            with self._fenced():
                kept += (
                    Assignment.objects.filter(tenant=self.tenant, removed_at__isnull=True)
                    .filter(match)
                    .update(last_seen_run=self.run_row.pk)
                )
        count = self.unreadable_rows
        self.run_row.rows_unreadable = count
        self.notes.append(
            f"{count} listed row{'s' if count != 1 else ''} could not be read (principal missing "
            f"or malformed); the {kept} matching assignment{'s' if kept != 1 else ''} in the "
            "mirror were kept as they were, none was swept for it."
        )

    def _write_assignment_page(
        self, source: AssignmentSource, page: list[Any], roles: dict[str, int]
    ) -> None:
        now = timezone.now()
        run_id = self.run_row.pk
        wanted = self._readable_rows(source, page, roles)
        if not wanted:
            return
        principals: dict[str, dict[str, Any]] = {}
        for item in wanted:
            principals.setdefault(
                item["principal"]["id"], _principal_basic_row(self.tenant, item["principal"], now)
            )
        with self._fenced():
            principal_pk = _upsert_listed_principals(principals, run_id)
            rows: dict[tuple, dict[str, Any]] = {}
            for item in wanted:
                row = _assignment_row(
                    self.tenant,
                    source,
                    item,
                    principal_pk[item["principal"]["id"]],
                    roles[item["roleDefinitionId"]],
                    now,
                )
                key = (row["principal"], row["role"], row["directory_scope_id"], row["kind"])
                rows.setdefault(key, row)
            if source is ACTIVE_ASSIGNMENTS:
                update = ("role_assignment_id", *SCHEDULE_FIELDS, "removed_at", "last_seen_at")
                keep: tuple[str, ...] = SCHEDULE_FIELDS
            else:
                update = (*SCHEDULE_FIELDS, "removed_at", "last_seen_at")
                keep = ()
            upsert(
                Assignment,
                list(rows.values()),
                conflict=("tenant", "principal", "role", "directory_scope_id", "kind"),
                update=update,
                compare=tuple(f for f in update if f != "last_seen_at"),
                keep_when_seen=keep,
                run_id=run_id,
                mark_reappeared=True,
            )
        self.run_row.assignments_seen += len(rows)

    # application permissions ------------------------------------------------------------------

    def sync_app_permissions(self, resources: dict[str, ResourceApi]) -> None:
        """Every grant of each resource's permissions to a service principal, page by page.

        A listing that fails (after the client's retries) fails the run: nothing is swept, so
        no grant of that resource is ever taken as removed from a partial read.
        """
        for resource in resources.values():
            self._progress("reading application permissions")
            for page in read_ahead(self.directory.app_role_grant_pages(resource.object_id)):
                self._write_grant_page(resource, page)
                self._progress()

    def _readable_grants(self, resource: ResourceApi, page: list[Any]) -> list[dict[str, Any]]:
        """The page's grants to service principals; users, groups and default access skipped.

        The same rules as `_readable_rows`: a grant whose holder cannot be identified (no
        principalType, an id or principalId that is not one) is never taken as absent. With a
        readable key (principalId, appRoleId) the mirror's grant with that key is kept as seen
        and counted; without one (not an object, appRoleId not an id, no principalId) the run
        fails with UnreadableRow.
        """
        wanted: list[dict[str, Any]] = []
        for item in page:
            if not isinstance(item, dict):
                raise UnreadableRow(APP_PERMISSION_GRANTS, item, "not an object")
            role_id = object_id(item.get("appRoleId"))
            if role_id is None:
                raise UnreadableRow(APP_PERMISSION_GRANTS, item, "appRoleId is not an id")
            principal_type = item.get("principalType")
            if isinstance(principal_type, str) and principal_type != "ServicePrincipal":
                continue  # users and groups are not service principals
            if role_id == DEFAULT_ACCESS_ROLE_ID:
                continue  # default access: no permission
            principal_id = object_id(item.get("principalId"))
            if (
                not isinstance(principal_type, str)
                or principal_id is None
                or not object_id(item.get("id"))
            ):
                if principal_id is None:
                    raise UnreadableRow(APP_PERMISSION_GRANTS, item, "no readable principalId")
                role_pk = resource.permissions.get(role_id)
                if role_pk is not None:
                    key = (principal_id, role_pk, "/", APP_PERMISSION_GRANTS.kind)
                    self.unreadable_keys.append(key)
                self.unreadable_rows += 1
                continue
            wanted.append(item)
        return wanted

    def _add_unknown_permissions(self, resource: ResourceApi, role_ids: set[str]) -> None:
        """Grants of an appRoleId the resource does not list: a definition named by the id, so
        the grant is still mirrored and reviewed (called inside a fenced write)."""
        run_id = self.run_row.pk
        self._write_permission_definitions(
            [
                _permission_definition(self.tenant, resource, {"id": role_id}, run_id)
                for role_id in sorted(role_ids)
            ]
        )
        self._load_permissions([resource])

    def _write_grant_page(self, resource: ResourceApi, page: list[Any]) -> None:
        now = timezone.now()
        run_id = self.run_row.pk
        wanted = self._readable_grants(resource, page)
        if not wanted:
            return
        principals: dict[str, dict[str, Any]] = {}
        for item in wanted:
            principals.setdefault(
                item["principalId"],
                {
                    "tenant": self.tenant.pk,
                    "object_id": item["principalId"],
                    "display_name": text(item.get("principalDisplayName"), 1024),
                    "deleted_at": None,
                    "first_seen_at": now,
                    "last_seen_at": now,
                },
            )
        unknown = {item["appRoleId"] for item in wanted} - resource.permissions.keys()
        with self._fenced():
            if unknown:
                self._add_unknown_permissions(resource, unknown)
            principal_pk = _upsert_listed_principals(principals, run_id)
            rows: dict[tuple, dict[str, Any]] = {}
            for item in wanted:
                row = _grant_row(
                    self.tenant,
                    item,
                    principal_pk[item["principalId"]],
                    resource.permissions[item["appRoleId"]],
                    now,
                )
                rows.setdefault((row["principal"], row["role"]), row)
            update = (*GRANT_FIELDS, "removed_at", "last_seen_at")
            upsert(
                Assignment,
                list(rows.values()),
                conflict=("tenant", "principal", "role", "directory_scope_id", "kind"),
                update=update,
                compare=(*GRANT_FIELDS, "removed_at"),
                run_id=run_id,
                mark_reappeared=True,
            )
        self.run_row.assignments_seen += len(rows)

    # principal details -------------------------------------------------------------------------

    def _principals_seen(self) -> Iterable[list[tuple[int, str]]]:
        """This run's principals in keyset-ordered batches of getByIds' limit (streamed)."""
        last_pk = 0
        while True:
            batch = list(
                ServicePrincipal.objects.filter(
                    tenant=self.tenant, last_seen_run=self.run_row.pk, pk__gt=last_pk
                )
                .order_by("pk")
                .values_list("pk", "object_id")[:GET_BY_IDS_LIMIT]
            )
            if not batch:
                return
            yield batch
            last_pk = batch[-1][0]

    def _principal_details(self, batch: list[tuple[int, str]]) -> PrincipalDetails:
        """Graph only (runs on the read-ahead thread): current objects, their owners, and the
        app registrations (with owners and federated credentials) of those whose home is this
        tenant. A refused registration read (403) leaves `registrations` None."""
        if self.heartbeat.lost.is_set():
            raise LockLost  # taken for dead: read no more of Graph
        ids = [object_id_ for _, object_id_ in batch]
        wanted = set(ids)
        found = {
            o["id"]: o
            for o in self.directory.service_principals(ids)
            if object_id(o.get("id")) and o["id"] in wanted
        }
        details = PrincipalDetails(found, self.directory.owners_of(list(found)))
        app_ids = sorted({o["appId"] for o in found.values() if _has_registration(self.tenant, o)})
        if self.registrations_refused:
            details.registrations = None
        elif app_ids:
            try:
                details.registrations = self.directory.app_registrations_of(app_ids)
            except GraphForbidden as exc:
                details.registrations = None
                self.registrations_refused = True
                self.notes.append(
                    f"App registrations could not be read (Graph answered {exc.status} "
                    f"{exc.code or 'without an error code'}; Application.Read.All covers them): "
                    "their owners, credentials and federated credentials are marked unreadable "
                    "and the mirror keeps what it had."
                )
        return details

    def _write_applications(
        self, details: PrincipalDetails, batch: list[tuple[int, str]], now: datetime
    ) -> dict[str, tuple[int | None, datetime | None]]:
        """Upsert the batch's app registrations (inside the page's fenced write); return, by
        appId, the Application pk and its next credential expiry. When the reads were refused,
        the links the mirror already had are returned unchanged instead."""
        if details.registrations is None:
            linked = ServicePrincipal.objects.filter(pk__in=[pk for pk, _ in batch]).exclude(
                application=None
            )
            return {
                app_id: (pk, expiry)
                for app_id, pk, expiry in linked.values_list(
                    "app_id", "application_id", "application__next_credential_expiry"
                )
            }
        rows = {
            found.application["id"]: _application_row(self.tenant, found, now)
            for found in details.registrations.values()
            if found is not None
        }
        returned = upsert(
            Application,
            list(rows.values()),
            conflict=("tenant", "object_id"),
            update=(*APPLICATION_FIELDS, "last_seen_at"),
            compare=APPLICATION_FIELDS,
            run_id=self.run_row.pk,
            returning=("object_id", "id"),
        )
        pk_of = {r[0]: r[1] for r in returned}
        absent = [app_id for app_id, found in details.registrations.items() if found is None]
        if absent:
            # Read and not there: a registration the mirror held was deleted (kept, dated).
            Application.objects.filter(
                tenant=self.tenant, app_id__in=absent, deleted_at__isnull=True
            ).update(deleted_at=now, changed_run=self.run_row.pk)
        return {
            app_id: (
                pk_of[found.application["id"]],
                rows[found.application["id"]]["next_credential_expiry"],
            )
            for app_id, found in details.registrations.items()
            if found is not None
        }

    def _link_application(
        self,
        row: dict[str, Any],
        obj: dict[str, Any],
        details: PrincipalDetails,
        applications: dict[str, tuple[int | None, datetime | None]],
    ) -> None:
        """Set the row's application, its state, and the next expiry over both objects."""
        application, state, expiry = None, "none", None
        if _has_registration(self.tenant, obj):
            if obj["appId"] in applications:
                application, expiry = applications[obj["appId"]]
            if details.registrations is None:
                state = "unreadable"
            elif application is not None:
                state = "found"
        ends = [e for e in (row["next_credential_expiry"], expiry) if e is not None]
        row.update(
            application=application,
            application_state=state,
            next_credential_expiry=min(ends) if ends else None,
        )

    def sync_principal_details(self) -> None:
        self._progress("reading principals and owners")
        run_id = self.run_row.pk
        for batch, details in map_ahead(self._principal_details, self._principals_seen()):
            now = timezone.now()
            found, owners = details.found, details.owners
            rows = [_principal_detail_row(self.tenant, found[i], owners[i], now) for i in found]
            gone = [pk for pk, oid in batch if oid not in found]
            with self._fenced():
                applications = self._write_applications(details, batch, now)
                for row in rows:
                    self._link_application(row, found[row["object_id"]], details, applications)
                upsert(
                    ServicePrincipal,
                    rows,
                    conflict=("tenant", "object_id"),
                    update=(*PRINCIPAL_DETAIL_FIELDS, "details_synced_at", "last_seen_at"),
                    compare=PRINCIPAL_DETAIL_FIELDS,
                    run_id=run_id,
                )
                if gone:
                    # Deleted between the listing and now: keep the row, say when it went.
                    ServicePrincipal.objects.filter(pk__in=gone, deleted_at__isnull=True).update(
                        deleted_at=now, changed_run=run_id
                    )
            self.run_row.principals_seen += len(batch)
            self._progress()

    def sync_sign_ins(self) -> None:
        self._progress("reading sign-in activity")
        run_id = self.run_row.pk
        pages_read = 0
        try:
            for page in read_ahead(self.directory.sign_in_pages()):
                pairs = []
                for item in page:
                    app_id = object_id(item.get("appId"))
                    activity = item.get("lastSignInActivity")
                    if app_id is None:
                        continue
                    when = (
                        graph_datetime(activity.get("lastSignInDateTime"))
                        if isinstance(activity, dict)
                        else None
                    )
                    pairs.append((app_id, when))
                with self._fenced():
                    record_sign_ins(ServicePrincipal, self.tenant.pk, run_id, pairs)
                pages_read += 1
                self._progress()
        except GraphError as exc:
            if exc.status not in (400, 403, 404):
                raise
            self.run_row.sign_in_activity = "unavailable"
            self.notes.append(sign_in_note(exc, pages_read))
            return
        # A principal absent from a complete listing has not signed in within Graph's retention.
        with self._fenced():
            ServicePrincipal.objects.filter(tenant=self.tenant, last_seen_run=run_id).exclude(
                sign_in_run=run_id
            ).update(last_sign_in_at=None, sign_in_known=True, sign_in_run=run_id)
        self.run_row.sign_in_activity = "read"

    def finish(self) -> None:
        """Everything was read: sweep what was not seen, then record the counts.

        One transaction that first locks this run's row (FOR UPDATE) and checks it still says
        RUNNING: a run reaped meanwhile raises LockLost and sweeps nothing, and the reaper
        cannot slip in between the check and the outcome.

        The sweep guard: assignments not listed by this run that an earlier run already held
        are confirmed gone by this second complete read and removed. The newly unlisted ones
        are removed too, unless `sweep_is_suspect` says their share of the mirror is too large:
        then they are held (kept current, marked with this run), the run still succeeds, says so,
        and queues a confirming sync. A held assignment listed again loses its mark.
        """
        self._progress("sweeping", force=True)
        run = self.run_row
        now = timezone.now()
        with transaction.atomic():
            self._check_lock(exclusive=True)
            current = Assignment.objects.filter(tenant=self.tenant, removed_at__isnull=True)
            unlisted = list(
                current.exclude(last_seen_run=run.pk)
                .select_for_update()
                .values_list("pk", "sweep_held_run")
            )
            confirmed = [pk for pk, held in unlisted if held]
            fresh = [pk for pk, held in unlisted if not held]
            base = current.count()
            gone = confirmed
            if sweep_is_suspect(len(fresh), base):
                Assignment.objects.filter(pk__in=fresh).update(sweep_held_run=run.pk)
                run.sweep_held, run.sweep_base = len(fresh), base
                self.notes.append(
                    f"{len(fresh)} assignment{'s' if len(fresh) != 1 else ''} "
                    f"({run.sweep_held_percent} %) no longer listed: held until a second "
                    "complete read confirms. A confirming sync was queued."
                )
                # The second complete read now, not at the next schedule (sent after commit).
                request_sync(actor=None, trigger="confirm")
            else:
                gone = confirmed + fresh
            if confirmed:
                self.notes.append(
                    f"{len(confirmed)} held assignment{'s' if len(confirmed) != 1 else ''} "
                    "confirmed gone by a second complete read."
                )
            run.assignments_removed = Assignment.objects.filter(pk__in=gone).update(
                removed_at=now, changed_run=run.pk, sweep_held_run=0
            )
            listed_again = (
                current.filter(last_seen_run=run.pk)
                .exclude(sweep_held_run=0)
                .update(sweep_held_run=0)
            )
            if listed_again:
                self.notes.append(
                    f"{listed_again} held assignment{'s' if listed_again != 1 else ''} "
                    "listed again: no longer held."
                )
            back = list(
                Assignment.objects.filter(
                    tenant=self.tenant, reappeared_run=run.pk, removed_at__isnull=True
                ).values_list("pk", flat=True)
            )
            if back:
                assignments_reappeared.send(
                    sender=TenantSync,
                    tenant_id=self.tenant.tenant_id,
                    run_id=run.pk,
                    assignment_ids=back,
                )
            if gone:
                assignments_removed.send(
                    sender=TenantSync,
                    tenant_id=self.tenant.tenant_id,
                    run_id=run.pk,
                    assignment_ids=gone,
                )
            assignment_counts = Assignment.objects.filter(
                tenant=self.tenant, last_seen_run=run.pk
            ).aggregate(
                seen=Count("pk"),
                created=Count("pk", filter=Q(first_seen_run=run.pk)),
                updated=Count("pk", filter=Q(changed_run=run.pk) & ~Q(first_seen_run=run.pk)),
            )
            principal_counts = ServicePrincipal.objects.filter(
                tenant=self.tenant, last_seen_run=run.pk
            ).aggregate(
                seen=Count("pk"),
                created=Count("pk", filter=Q(first_seen_run=run.pk)),
                updated=Count("pk", filter=Q(changed_run=run.pk) & ~Q(first_seen_run=run.pk)),
            )
            stats = self.directory.client.stats
            run.assignments_seen = assignment_counts["seen"]
            run.assignments_created = assignment_counts["created"]
            run.assignments_updated = assignment_counts["updated"]
            run.principals_seen = principal_counts["seen"]
            run.principals_created = principal_counts["created"]
            run.principals_updated = principal_counts["updated"]
            run.pages, run.requests = stats.pages, stats.requests
            run.notes = "\n".join(self.notes)
            run.phase = "done"
            run.status = SyncRun.Status.SUCCEEDED
            run.finished_at = now
            run.heartbeat_at = now
            run.save()
            Tenant.objects.filter(pk=self.tenant.pk).update(last_synced_at=now)


def sweep_is_suspect(unlisted: int, current: int) -> bool:
    """Whether removing `unlisted` of the mirror's `current` assignments needs a second read.

    Above SYNC_MAX_SWEEP_SHARE of the mirror, a listing that came back short (a Graph fault, a
    permission lost, a bug) is likelier than a real mass removal, and a false sweep costs an
    audit trail of false removals. Small mirrors: a single assignment is never held (1 of 3 is
    33 %, yet one removal is the everyday case and holding it would only delay it), except when
    it would empty the mirror; a sweep that would empty the mirror is always held. A share of 1
    or more turns the guard off.
    """
    share = settings.SYNC_MAX_SWEEP_SHARE
    if unlisted == 0 or current == 0 or share >= 1:
        return False
    if unlisted >= current:
        return True
    return unlisted > 1 and unlisted / current > share
