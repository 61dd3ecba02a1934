"""Signals the mirror sends so that other apps can react without identities importing them."""

from django.dispatch import Signal

# Sent inside the sweep's transaction: tenant_id (Graph tenant id), run_id, assignment_ids.
assignments_removed = Signal()
# Sent inside the sweep's transaction for assignments that were removed and are listed again:
# tenant_id, run_id, assignment_ids.
assignments_reappeared = Signal()
