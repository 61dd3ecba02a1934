"""Django admin for people, groups and their permissions, audited.

Who is a superuser or staff, and which groups and permissions people hold, decides what they may
do in spreview; each change made here becomes an audit event with the admin as actor and the old
and new values, in the admin's own transaction. A password hash never enters the log: only
that the password changed.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse

from . import audit

USER_FIELDS = ("username", "first_name", "last_name", "email", "is_active", "is_staff")
USER_FIELDS += ("is_superuser",)


def _permission_names(permissions: QuerySet) -> list[str]:
    return sorted(
        f"{app}.{codename}"
        for app, codename in permissions.values_list("content_type__app_label", "codename")
    )


def user_values(user: User) -> dict[str, Any]:
    """What the log keeps of a user: fields, groups and permissions, never the password."""
    values: dict[str, Any] = {name: getattr(user, name) for name in USER_FIELDS}
    values["groups"] = sorted(user.groups.values_list("name", flat=True))
    values["user_permissions"] = _permission_names(user.user_permissions.all())
    return values


def group_values(group: Group) -> dict[str, Any]:
    return {"name": group.name, "permissions": _permission_names(group.permissions.all())}


def _changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict, dict]:
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


class AuditedAdmin(admin.ModelAdmin):
    """Writes an audit event for each add, change and delete made through this admin.

    The object as it was is read when the admin loads it (`get_object`, before the form binds);
    as it is now, when the admin logs the change (after the object and its relations are saved).
    """

    noun = ""

    def values(self, obj: Any) -> dict[str, Any]:
        raise NotImplementedError

    def label(self, obj: Any) -> str:
        return str(obj)

    def secret(self, obj: Any) -> str:
        """A value whose change is logged as "changed", never with the value itself."""
        return ""

    def _before(self, request: HttpRequest) -> dict[Any, tuple[dict[str, Any], str]]:
        if not hasattr(request, "_audit_before"):
            request._audit_before = {}
        return request._audit_before

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            self._before(request)[obj.pk] = (self.values(obj), self.secret(obj))
        return obj

    def _record(self, request: HttpRequest, obj: Any, verb: str, old: Any, new: Any) -> None:
        audit.record(
            f"admin.{self.noun}.{verb}",
            actor=request.user,
            summary=f"{self.noun.capitalize()} {self.label(obj)} {verb} in the admin"
            + (f": {', '.join(new)}" if verb == "changed" else ""),
            object_type=self.noun,
            object_id=str(obj.pk),
            old=old,
            new=new,
        )

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        self._record(request, obj, "added", None, self.values(obj))
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        fresh = type(obj).objects.get(pk=obj.pk)
        # Not loaded through get_object (a list_editable save): every value counts as new.
        before, secret = self._before(request).get(obj.pk, ({}, self.secret(fresh)))
        old, new = _changes(before, self.values(fresh))
        if secret != self.secret(fresh):
            # The log masks the values (secret-looking key): it shows that it changed.
            old["password"], new["password"] = "", "changed"
        if new:
            self._record(request, obj, "changed", old, new)
        return super().log_change(request, obj, message)

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        self._deleted(request, [obj], lambda: super(AuditedAdmin, self).delete_model(request, obj))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._deleted(
            request,
            list(queryset),
            lambda: super(AuditedAdmin, self).delete_queryset(request, queryset),
        )

    def _deleted(self, request: HttpRequest, objs: list[Any], delete: Any) -> None:
        with transaction.atomic():
            gone = [(obj, self.values(obj)) for obj in objs]
            delete()
            for obj, values in gone:
                self._record(request, obj, "deleted", values, None)


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class AuditedUserAdmin(AuditedAdmin, UserAdmin):
    noun = "user"

    def values(self, obj: User) -> dict[str, Any]:
        return user_values(obj)

    def label(self, obj: User) -> str:
        return obj.get_username()

    def secret(self, obj: User) -> str:
        return obj.password

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        # Django's view is not atomic: the new password and its audit event commit together.
        with transaction.atomic():
            return super().user_change_password(request, id, form_url)


@admin.register(Group)
class AuditedGroupAdmin(AuditedAdmin, GroupAdmin):
    noun = "group"

    def values(self, obj: Group) -> dict[str, Any]:
        return group_values(obj)
