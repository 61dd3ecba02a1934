"""Django admin views of the tenant mirror: for looking, not editing.

The rows belong to the sync (what Graph says is the truth); an edit here would be overwritten on
the next run and would bypass the audit trail, so nothing can be added, changed or deleted.
"""

from django.contrib import admin
from django.http import HttpRequest

from .models import Application, Assignment, RoleDefinition, ServicePrincipal, SyncRun, Tenant


class ReadOnlyAdmin(admin.ModelAdmin):
    show_full_result_count = False  # a COUNT(*) per page is slow on large tenants
    list_per_page = 50

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Tenant)
class TenantAdmin(ReadOnlyAdmin):
    list_display = ("tenant_id", "display_name", "last_synced_at")
    search_fields = ("tenant_id", "display_name")


@admin.register(RoleDefinition)
class RoleDefinitionAdmin(ReadOnlyAdmin):
    list_display = (
        "display_name",
        "privilege_type",
        "resource_name",
        "tier",
        "is_privileged",
        "privileged_source",
        "tenant",
    )
    list_filter = ("privilege_type", "tier", "is_privileged", "is_built_in")
    search_fields = ("display_name", "object_id", "template_id", "value", "resource_name")


@admin.register(ServicePrincipal)
class ServicePrincipalAdmin(ReadOnlyAdmin):
    list_display = (
        "display_name",
        "app_id",
        "sp_type",
        "account_enabled",
        "owner_count",
        "last_sign_in_at",
        "deleted_at",
    )
    list_filter = ("sp_type", "account_enabled")
    search_fields = ("display_name", "app_id", "object_id")


@admin.register(Application)
class ApplicationAdmin(ReadOnlyAdmin):
    list_display = ("display_name", "app_id", "owner_count", "next_credential_expiry", "deleted_at")
    search_fields = ("display_name", "app_id", "object_id")


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = (
        "principal",
        "role",
        "directory_scope_id",
        "kind",
        "granted_via",
        "expires_at",
        "removed_at",
    )
    list_filter = ("kind", "granted_via")
    list_select_related = ("principal", "role")
    search_fields = ("principal__display_name", "principal__app_id", "role__display_name")
    raw_id_fields = ("principal", "role")


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = (
        "started_at",
        "trigger",
        "status",
        "phase",
        "assignments_seen",
        "assignments_removed",
        "error_code",
    )
    list_filter = ("status", "trigger")
    list_select_related = ("tenant",)
    search_fields = ("error_code", "request_id")
