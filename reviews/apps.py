from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Access reviews"

    def ready(self) -> None:
        from accounts.signals import roles_changed
        from identities.signals import assignments_reappeared, assignments_removed

        from . import audit
        from .services import record_regrants, record_sync_removals

        def on_removed(sender, *, tenant_id: str, run_id: int, assignment_ids: list[int], **_):
            record_sync_removals(tenant_id, run_id, assignment_ids)

        assignments_removed.connect(on_removed, weak=False, dispatch_uid="reviews-audit-removals")

        def on_reappeared(sender, *, tenant_id: str, run_id: int, assignment_ids: list[int], **_):
            record_regrants(tenant_id, run_id, assignment_ids)

        assignments_reappeared.connect(
            on_reappeared, weak=False, dispatch_uid="reviews-flag-regrants"
        )

        def on_roles_changed(sender, *, user, changes: list[str], **_):
            audit.record(
                "identities.roles.changed",
                actor=user,
                summary=f"App roles from Entra ID at sign-in: {', '.join(changes)}",
                object_type="user",
                object_id=user.get_username(),
                # changes are "+Admin", "-Auditor" …: each app role held before and after.
                old={change[1:]: change[0] == "-" for change in changes},
                new={"changes": changes, **{change[1:]: change[0] == "+" for change in changes}},
            )

        roles_changed.connect(on_roles_changed, weak=False, dispatch_uid="reviews-audit-roles")
