"""`manage.py verify_audit`: check every audit chain; print each head, or the first broken link.

Exits 1 when a chain is broken. Heads published earlier (a results CSV's last line, an earlier
run's output) can be given back with --expect: a chain rebuilt since no longer contains them.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from reviews.audit_chain import head_line, verify_chains


def _expected(values: list[str]) -> dict[str, list[tuple[int, str]]]:
    found: dict[str, list[tuple[int, str]]] = {}
    for value in values:
        parts = value.strip().rsplit(":", 2)
        if len(parts) != 3 or not parts[1].isdigit() or len(parts[2]) != 64:
            raise CommandError(f"--expect {value!r}: give TENANT:SEQ:HASH as published")
        tenant_id, seq, digest = parts
        found.setdefault(tenant_id, []).append((int(seq), digest.lower()))
    return found


class Command(BaseCommand):
    help = "Verify the audit log's hash chains; exit 1 at the first broken link."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--expect",
            action="append",
            default=[],
            metavar="TENANT:SEQ:HASH",
            help="a chain head published earlier, which the chain must still contain",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        expected = _expected(options["expect"])
        outermost = not connection.in_atomic_block
        with transaction.atomic():
            if connection.vendor == "postgresql" and outermost:
                # One snapshot for events and heads, or a concurrent append could show its head
                # without its events (or the reverse) and look like tampering.
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            reports = verify_chains(expected)
        for report in reports:
            if report.ok:
                self.stdout.write(
                    f"ok     {report.name}: {report.events} events, head "
                    f"{head_line(report.tenant_id, report.head_seq, report.head_hash)}"
                )
            else:
                self.stdout.write(
                    f"BROKEN {report.name}: first broken link at event id "
                    f"{report.broken_event_id if report.broken_event_id is not None else '-'}, "
                    f"seq {report.broken_seq}: {report.problem} (last good link: seq "
                    f"{report.head_seq})"
                )
        if not reports:
            self.stdout.write("ok     the audit log is empty")
        broken = [r.name for r in reports if not r.ok]
        if broken:
            raise CommandError(f"audit chain broken: {', '.join(broken)}")
