"""Removals the sync detected in Entra ID, written to the audit log."""

from __future__ import annotations

from identities.models import Assignment

from .. import audit


def record_sync_removals(tenant_id: str, run_id: int, assignment_ids: list[int]) -> int:
    """Audit assignments the sync found gone from Entra ID (called inside the sweep)."""
    rows = Assignment.objects.filter(pk__in=assignment_ids).values(
        "pk", "principal__display_name", "principal__object_id", "role__display_name", "kind"
    )
    return audit.record_many(
        audit.event(
            "identities.assignment.removed",
            summary=f"{r['principal__display_name']} · {r['role__display_name']} ({r['kind']}) "
            "no longer in Entra ID",
            tenant_id=tenant_id,
            object_type="assignment",
            object_id=str(r["pk"]),
            new={"sync_run": run_id, "principal": r["principal__object_id"]},
        )
        for r in rows
    )
