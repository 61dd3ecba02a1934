"""Signals the mirror sends so that other apps can react without identities importing them."""

from django.dispatch import Signal

# Sent inside the sweep's transaction: tenant_id (Graph tenant id), run_id, assignment_ids.
assignments_removed = Signal()
# Sent inside the sweep's transaction for assignments that were removed and are listed again:
# tenant_id, run_id, assignment_ids.
assignments_reappeared = Signal()

# Sent inside the sign-in's transaction when a person's app roles changed what they may do:
# user (the Django user), changes (["+Admin", "-Auditor"]: each app role gained or lost).
roles_changed = Signal()
