"""django-tables2 tables of the tenant mirror.

Names, roles, notes and error messages all come from Graph and may be hostile: every cell that
mixes markup with data goes through `format_html` with the data as an argument, never by string
concatenation, so Django escapes the data; names are isolated (`<bdi>`) so that a right-to-left
override in one cannot turn the rest of the cell around.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import django_tables2 as tables
from django.db.models import F, QuerySet
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from .bidi import isolate
from .dates import time_html
from .models import Assignment, RoleDefinition, SyncRun
from .tiers import tier_label

TABLE_TEMPLATE = "identities/_table.html"
NOTHING = "—"


def badge(text: str, variant: str = "neutral", title: str = "") -> SafeString:
    """A small label; `variant` picks one of the colours defined in app.css."""
    if title:
        return format_html(
            '<span class="badge badge-{}" title="{}">{}</span>', variant, title, text
        )
    return format_html('<span class="badge badge-{}">{}</span>', variant, text)


def when(value: datetime | None, empty: str = NOTHING, *, hint: bool = False) -> SafeString | str:
    """A timestamp in the site's zone (the browser rewrites it into its own), machine-readable
    in the `datetime` attribute; `hint` adds "3 days ago"."""
    if value is None:
        return empty
    return time_html(value, hint=hint)


def duration_text(value: timedelta | None) -> str:
    """ "2 min 5 s" rather than "0:02:05.123456": runs last seconds to hours."""
    if value is None:
        return NOTHING
    seconds = max(int(value.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds} s"
    return f"{seconds} s"


def join_html(parts: list[SafeString | str], separator: str = " ") -> SafeString:
    """Join already-built fragments; plain strings among them are escaped."""
    return format_html_join(separator, "{}", ((part,) for part in parts))


GRANTED_LABELS = {Assignment.Granted.PIM: "PIM", Assignment.Granted.APP_ROLE: "App role"}
TIER_VARIANTS = {0: "danger", 1: "warning", 2: "neutral"}


def tier_badge(tier: int | None, reason: str = "") -> SafeString:
    """The tier as a coloured label, its reason on hover (the principal page prints it)."""
    variant = "unclassified" if tier is None else TIER_VARIANTS.get(tier, "neutral")
    return badge(tier_label(tier), variant, reason)


def privilege_html(role: RoleDefinition) -> SafeString:
    """A role's name, or a permission's value with its API beneath."""
    if role.is_app_permission:
        return format_html(
            '{}<span class="sub">{}</span>',
            isolate(role.display_name),
            isolate(role.resource_name or role.resource_app_id or "unknown API"),
        )
    return isolate(role.display_name)


class InventoryTable(tables.Table):
    principal = tables.Column(
        accessor="principal__display_name",
        verbose_name="Service principal",
        order_by=("principal__display_name", "pk"),
        empty_values=(),
        # Long names wrap, so that the privilege and its tier stay in view on a desk.
        attrs={"td": {"class": "name-cell"}},
    )
    app_id = tables.Column(
        accessor="principal__app_id",
        verbose_name="appId",
        order_by=("principal__app_id", "pk"),
        attrs={"td": {"class": "mono"}},
    )
    sp_type = tables.Column(
        accessor="principal__sp_type", verbose_name="Type", order_by=("principal__sp_type", "pk")
    )
    role = tables.Column(
        accessor="role__display_name",
        verbose_name="Privilege",
        order_by=("role__display_name", "pk"),
    )
    tier = tables.Column(accessor="role__tier", verbose_name="Tier", empty_values=())
    scope = tables.Column(
        accessor="scope_label", verbose_name="Scope", order_by=("directory_scope_id", "pk")
    )
    kind = tables.Column(verbose_name="Kind", order_by=("kind", "pk"))
    granted_via = tables.Column(verbose_name="Granted via", order_by=("granted_via", "pk"))
    expires = tables.Column(
        accessor="expires_at",
        verbose_name="Expires",
        order_by=("expires_at", "pk"),
        empty_values=(),
    )
    owners = tables.Column(
        accessor="owners_of_both",
        verbose_name="Owners",
        order_by=("owners_of_both", "pk"),
        attrs={"td": {"class": "num"}},
    )
    last_sign_in = tables.Column(
        accessor="principal__last_sign_in_at",
        verbose_name="Last sign-in",
        order_by=("principal__last_sign_in_at", "pk"),
        empty_values=(),
    )
    flags = tables.Column(
        accessor="principal", verbose_name="Flags", orderable=False, empty_values=()
    )

    class Meta:
        template_name = TABLE_TEMPLATE
        attrs = {"class": "data"}
        orderable = True

    def render_principal(self, record: Assignment) -> SafeString:
        principal = record.principal
        link = format_html(
            '<a href="{}">{}</a>',
            reverse("identities:principal", args=[principal.pk]),
            isolate(principal.display_name or principal.object_id),
        )
        if principal.deleted_at:
            return join_html([link, badge("deleted", "danger")])
        return link

    def render_role(self, record: Assignment) -> SafeString:
        return privilege_html(record.role)

    def render_tier(self, record: Assignment) -> SafeString:
        return tier_badge(record.role.tier, record.role.tier_reason)

    def order_tier(self, queryset: QuerySet, is_descending: bool) -> tuple[QuerySet, bool]:
        # Unclassified sorts after Tier 2 either way: it is unknown, not "least".
        tier = (
            F("role__tier").desc(nulls_last=True)
            if is_descending
            else F("role__tier").asc(nulls_last=True)
        )
        return queryset.order_by(tier, "pk"), True

    def render_sp_type(self, value: str) -> SafeString:
        return badge(value, "type")

    def render_kind(self, record: Assignment) -> SafeString:
        # tables2 hands choice fields over as their label; the variant needs the stored value.
        return badge(record.get_kind_display().lower(), record.kind)

    def render_granted_via(self, record: Assignment) -> str:
        return GRANTED_LABELS.get(record.granted_via, "Direct")

    def render_expires(self, value: datetime | None) -> SafeString | str:
        return when(value, empty="never", hint=True)

    def render_owners(self, value: int) -> SafeString | str:
        if not value:
            return badge("no owner", "warning")
        return str(value)

    def render_last_sign_in(self, record: Assignment) -> SafeString | str:
        principal = record.principal
        if not principal.sign_in_known:
            return badge("unknown", "neutral", "Sign-in activity could not be read")
        parts: list[SafeString | str] = [when(principal.last_sign_in_at, empty="never", hint=True)]
        if principal.is_inactive():
            parts.append(badge("inactive", "warning"))
        return join_html(parts)

    def render_flags(self, record: Assignment) -> SafeString | str:
        principal = record.principal
        parts: list[SafeString | str] = []
        if not principal.account_enabled:
            parts.append(badge("disabled", "danger"))
        if principal.is_multi_tenant:
            parts.append(
                badge("multi-tenant", "info", f"Owned by {principal.app_owner_organization_id}")
            )
        return join_html(parts) if parts else ""


STATUS_VARIANTS = {
    SyncRun.Status.RUNNING: "info",
    SyncRun.Status.SUCCEEDED: "success",
    SyncRun.Status.FAILED: "danger",
    SyncRun.Status.LOST: "warning",
}


def status_badge(status: str) -> SafeString:
    return badge(status, STATUS_VARIANTS.get(status, "neutral"))


class SyncRunTable(tables.Table):
    started_at = tables.Column(verbose_name="Started", empty_values=())
    trigger = tables.Column(verbose_name="Trigger", empty_values=())
    status = tables.Column(verbose_name="Status")
    phase = tables.Column(verbose_name="Phase")
    duration = tables.Column(verbose_name="Duration", empty_values=(), orderable=False)
    pages = tables.Column(verbose_name="Pages", attrs={"td": {"class": "num"}})
    assignments_seen = tables.Column(verbose_name="Assignments", attrs={"td": {"class": "num"}})
    assignments_created = tables.Column(verbose_name="New", attrs={"td": {"class": "num"}})
    assignments_updated = tables.Column(verbose_name="Changed", attrs={"td": {"class": "num"}})
    assignments_removed = tables.Column(verbose_name="Removed", attrs={"td": {"class": "num"}})
    principals_seen = tables.Column(verbose_name="Principals", attrs={"td": {"class": "num"}})
    sign_in_activity = tables.Column(verbose_name="Sign-in activity")
    error = tables.Column(
        accessor="error_code", verbose_name="Error", orderable=False, empty_values=()
    )
    notes = tables.Column(verbose_name="Notes", orderable=False, attrs={"td": {"class": "wrap"}})

    class Meta:
        template_name = TABLE_TEMPLATE
        attrs = {"class": "data"}
        orderable = False
        empty_text = "No sync has run yet."

    def render_started_at(self, value: datetime) -> SafeString | str:
        return when(value)

    def render_trigger(self, record: SyncRun) -> SafeString | str:
        if record.requested_by is not None:
            return format_html(
                '{} <span class="muted">by {}</span>',
                record.trigger,
                record.requested_by.get_username(),
            )
        return record.trigger

    def render_status(self, record: SyncRun) -> SafeString:
        return status_badge(record.status)

    def render_duration(self, record: SyncRun) -> str:
        return duration_text(record.duration)

    def render_sign_in_activity(self, value: str) -> SafeString:
        return badge(value, "success" if value == "read" else "warning")

    def render_error(self, record: SyncRun) -> SafeString | str:
        if not (record.error_code or record.error_message or record.request_id):
            return ""
        parts: list[SafeString | str] = []
        if record.error_code:
            parts.append(format_html('<strong class="mono">{}</strong>', record.error_code))
        if record.error_message:
            parts.append(format_html('<span class="wrap">{}</span>', record.error_message))
        if record.request_id:
            parts.append(
                format_html(
                    '<span class="muted">request id <code>{}</code></span>', record.request_id
                )
            )
        return format_html('<div class="error-cell">{}</div>', join_html(parts))
