"""Audit benchmark: what chaining costs an append, and how long verify_audit takes.

Database spreview_audit_bench (PostgreSQL). Reported, all measured in this one run (median of
--repeat runs):
- record_many of 1,000 and 10,000 events (chained: lock, head read, ids, hashes, bulk insert,
  recorded head) against the same rows inserted by a plain bulk_create, as record_many did
  before the chain: wall time and statements;
- record of one event (its own transaction) against one plain insert;
- verify_audit over every chain the run wrote: wall time and events per second.

Usage: python bench/audit_bench.py   (options: --sizes 1000,10000 --repeat 5)
"""

from __future__ import annotations

import argparse
import io
import itertools
import statistics
import time

from common import count_round_trips, ensure_database, use_database

BENCH_DB = use_database("spreview_audit_bench")


def events(count: int, tenant_id: str) -> list:
    from reviews import audit

    return [
        audit.event(
            "reviews.decision.revoke",
            tenant_id=tenant_id,
            summary=f"App {n} · Global Administrator: Revoke",
            campaign_id=1,
            cycle_id=1,
            item_id=n,
            object_type="assignment",
            object_id=str(n),
            old={"decision": "pending", "justification": ""},
            new={"decision": "revoke", "justification": "Unused for 90 days"},
        )
        for n in range(count)
    ]


def timed(write, made: list) -> tuple[float, int]:
    with count_round_trips() as trips:
        started = time.perf_counter()
        write(made)
        return time.perf_counter() - started, trips["n"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    ensure_database(BENCH_DB)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from reviews import audit
    from reviews.models import AuditEvent

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE reviews_auditevent, reviews_audithead")
    plain_seq = itertools.count(1)

    def plain(made: list) -> None:
        # The rows as before the chain: no lock, no head, no hash to compute.
        for event in made:
            event.seq, event.hash = next(plain_seq), "0" * 64
        with transaction.atomic():
            AuditEvent.objects.bulk_create(made, batch_size=audit.BATCH_SIZE)

    print("| events | plain bulk_create ms | statements | record_many ms | statements | ratio |")
    print("|---|---|---|---|---|---|")
    for size in (int(s) for s in options.sizes.split(",")):
        base = [timed(plain, events(size, "plain")) for _ in range(options.repeat)]
        chained = [timed(audit.record_many, events(size, "chained")) for _ in range(options.repeat)]
        base_s = statistics.median(t for t, _ in base)
        chained_s = statistics.median(t for t, _ in chained)
        print(
            f"| {size:,} | {base_s * 1000:.0f} | {base[0][1]} | {chained_s * 1000:.0f} | "
            f"{chained[0][1]} | {chained_s / base_s:.2f} |"
        )
    one_plain = [timed(plain, events(1, "plain")) for _ in range(50)]
    one = [timed(lambda made: audit.record_many(made), events(1, "one")) for _ in range(50)]
    print(
        f"\none event: plain insert {statistics.median(t for t, _ in one_plain) * 1000:.2f} ms, "
        f"statements: {one_plain[0][1]}; record {statistics.median(t for t, _ in one) * 1000:.2f}"
        f" ms, statements: {one[0][1]}"
    )
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE reviews_auditevent, reviews_audithead")  # drop the plain rows
    total = 0
    for size in (int(s) for s in options.sizes.split(",")):
        audit.record_many(events(size, "verified"))
        total += size
    started = time.perf_counter()
    call_command("verify_audit", stdout=io.StringIO())
    elapsed = time.perf_counter() - started
    print(f"verify_audit: {total:,} events in {elapsed:.2f} s ({total / elapsed:,.0f} events/s)")


if __name__ == "__main__":
    main()
