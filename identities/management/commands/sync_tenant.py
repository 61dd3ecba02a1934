"""`manage.py sync_tenant`: sync now, in this process, and say how it went in one line."""

from __future__ import annotations

import logging

from django.core.management.base import BaseCommand, CommandError

from identities import sync
from identities.graph import GraphAuthError, GraphConfigError
from identities.models import SyncRun


class Command(BaseCommand):
    help = "Sync the privileged service principals of the configured tenant from Microsoft Graph."

    def handle(self, *args, **options) -> None:
        if options["verbosity"] < 2:
            # The outcome is the one line below; the run's log lines are for -v 2.
            logging.disable(logging.WARNING)
        try:
            run = sync.sync_configured_tenant(trigger="command")
        except sync.SyncAlreadyRunning as exc:
            raise CommandError(
                f"A sync of this tenant is already running (run {exc.run.pk if exc.run else '?'})."
            ) from None
        except (GraphConfigError, GraphAuthError) as exc:
            raise CommandError(str(exc)) from None
        if run.status != SyncRun.Status.SUCCEEDED:
            detail = run.error_message.splitlines()[0] if run.error_message else "no detail"
            raise CommandError(f"Sync failed ({run.error_code}): {detail}")
        self.stdout.write(
            f"Synced {run.assignments_seen} privileged assignments of {run.principals_seen} "
            f"service principals ({run.assignments_created} new, "
            f"{run.assignments_updated} changed, {run.assignments_removed} removed) "
            f"in {run.duration.total_seconds():.1f}s, {run.pages} pages."
        )
        for note in filter(None, run.notes.splitlines()):
            self.stdout.write(f"Note: {note}")
