"""Review benchmark: starting a cycle, a reviewer's queue page, applying revocations.

The simulator runs in its own process, as in sync_bench.py; the database is PostgreSQL
(spreview_bench). Reported, all measured in this one run:
- (a) start_cycle over every privileged assignment of a synced tenant (1k and 10k): wall time
  and database statements, for named reviewers and for owners-as-reviewers;
- (b) the reviewer queue page with 1,000 items, first page (Django test client): render time,
  statements;
- (c) 1,000 revocations applied by a small thread pool against the simulator, every item
  delivered twice, with 10% of the removals answered 429 (Retry-After 0.2 s) once: wall time
  against 1,000 other revocations applied without faults, and the extra time against the floor
  those waits impose (sum of waits / threads); removal requests counted in the simulator's own
  request log (duplicates must be zero).

Usage: python bench/review_bench.py   (options: --sizes 1000,10000 --apply 1000 --workers 8)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from common import configure, count_round_trips, ensure_database, simulator, use_database

BENCH_DB = use_database("spreview_bench")
os.environ["CELERY_BROKER_URL"] = "memory://"  # invitations queued by start_cycle go nowhere
RETRY_AFTER = 0.2
REMOVAL_MARKERS = (
    ("DELETE", "/roleManagement/directory/roleAssignments/"),
    ("POST", "/roleManagement/directory/roleAssignmentScheduleRequests"),
    ("POST", "/roleManagement/directory/roleEligibilityScheduleRequests"),
)


def truncate_all() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE reviews_auditevent, reviews_audithead, reviews_itemreviewer,"
            " reviews_reviewitem, reviews_cycle,"
            " reviews_campaign_roles, reviews_campaign_reviewers, reviews_campaign,"
            " identities_assignment, identities_serviceprincipal, identities_roledefinition,"
            " identities_syncrun, identities_tenant CASCADE"
        )


def sync_tenant() -> dict:
    from identities import sync

    started = time.perf_counter()
    run = sync.sync_configured_tenant(trigger="bench")
    if run.status != "succeeded":
        raise RuntimeError(f"sync failed: {run.error_code} {run.error_message}")
    return {"assignments": run.assignments_seen, "sync_s": time.perf_counter() - started}


def new_campaign(name: str, mode: str, reviewers, **fields):
    from django.utils import timezone

    from identities.models import Tenant
    from reviews import services
    from reviews.models import Campaign

    campaign = Campaign(
        tenant=Tenant.objects.get(),
        name=name,
        start_at=timezone.now() - timedelta(minutes=1),
        reviewer_mode=mode,
        justification=Campaign.Justification.NONE,
        **fields,
    )
    return services.create_campaign(campaign, roles=[], reviewers=reviewers, actor=None)


def timed_start(campaign) -> tuple[object, dict]:
    from reviews import services

    with count_round_trips() as trips:
        started = time.perf_counter()
        cycle = services.start_cycle(campaign.pk)
        seconds = time.perf_counter() - started
    return cycle, {"items": cycle.items.count(), "start_s": seconds, "statements": trips["n"]}


def queue_page(cycle, user) -> dict:
    """Render the reviewer queue via the test client; a note when the page is not there yet."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from django.urls import NoReverseMatch, reverse

    try:
        url = reverse("reviews:queue", kwargs={"pk": cycle.pk})
    except NoReverseMatch:
        return {"note": "reviews:queue does not exist yet; page not measured"}
    setup_test_environment()
    client = Client()
    client.force_login(user)
    try:
        client.get(url)  # warm: templates compiled, session row read once
        timings, statements = [], 0
        for _ in range(5):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url + "?show=all")
                timings.append(time.perf_counter() - started)
            statements = len(queries)
    except Exception as exc:  # the views are written concurrently: report, do not crash
        return {"note": f"queue page failed: {type(exc).__name__}: {exc}"[:300]}
    if response.status_code != 200:
        return {"note": f"queue page answered {response.status_code}"}
    return {
        "queue_items": cycle.items.count(),
        "queue_items_on_page": len(response.context["items"]),
        "queue_ms_median": round(statistics.median(timings) * 1000, 1),
        "queue_statements": statements,
        "queue_kib": round(len(response.content) / 1024),
    }


def sim_control(env: dict, method: str, path: str, body=None):
    import requests

    response = requests.request(
        method,
        env["GRAPH_URL"] + path,
        json=body,
        verify=env["REQUESTS_CA_BUNDLE"],
        timeout=60,
    )
    response.raise_for_status()
    return response.json()


def removal_log(env: dict) -> list[dict]:
    logged = sim_control(env, "GET", "/_sim/requests")["requests"]
    return [
        r
        for r in logged
        if any(r["method"] == m and marker in r["path"] for m, marker in REMOVAL_MARKERS)
    ]


def apply_batch(env: dict, items: list, workers: int, rng: random.Random) -> dict:
    """Apply every item twice (duplicate delivery) from a pool of threads; time and outcomes."""
    from django.db import connection

    from identities.graph import GraphClient
    from identities.graph.removals import remove
    from reviews import services

    client = GraphClient.from_settings()
    client.tokens.token()

    def send(privilege, justification):
        return remove(client, privilege, justification)

    deliveries = [i.pk for i in items] * 2
    rng.shuffle(deliveries)
    lock = threading.Lock()
    outcomes: Counter = Counter()

    def worker() -> None:
        try:
            while True:
                with lock:
                    if not deliveries:
                        return
                    pk = deliveries.pop()
                outcome = services.apply_item(pk, send)
                with lock:
                    outcomes[outcome] += 1
        finally:
            connection.close()

    sim_control(env, "DELETE", "/_sim/requests")
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    removals = removal_log(env)
    reached = [r for r in removals if r["status"] != 429]
    per_delete = Counter(r["path"] for r in reached if r["method"] == "DELETE")
    return {
        "seconds": seconds,
        "removals": removals,
        "reached": reached,
        # Every item ends applied, so each got at least one; anything beyond is a duplicate.
        "duplicates": len(reached) - len(items),
        "max_deletes_per_assignment": max(per_delete.values(), default=0),
        "retries": client.stats.retries,
        "outcomes": {str(k): v for k, v in outcomes.items()},
    }


def apply_revocations(env: dict, cycle, count: int, workers: int, seed: int) -> dict:
    """Revoke 2 x `count` items: apply `count` with no fault (the baseline), then `count` with
    one 429 for 10% of them; every item is delivered twice."""
    from reviews import services
    from reviews.models import ReviewItem

    rng = random.Random(seed)
    ids = sorted(cycle.items.values_list("pk", flat=True))
    chosen = sorted(rng.sample(ids, 2 * count))
    ReviewItem.objects.filter(pk__in=chosen).update(decision="revoke")
    services.close_cycle(cycle.pk)
    services.request_apply(cycle.pk, actor=None)
    items = list(ReviewItem.objects.filter(pk__in=chosen, apply_status="queued"))
    assert len(items) == 2 * count, f"{len(items)} queued, expected {2 * count}"
    rng.shuffle(items)
    baseline_items, faulted_items = items[:count], items[count:]

    sim_control(env, "POST", "/_sim/faults", {"clear": True})
    baseline = apply_batch(env, baseline_items, workers, rng)

    direct = [i for i in faulted_items if i.kind == "active" and i.granted_via == "direct"]
    throttled = rng.sample(direct, min(len(direct), count // 10))
    # One 429 for each chosen removal, matched on its own DELETE path (its assignment id).
    rules = [
        {"times": 1, "retry_after": RETRY_AFTER, "path_contains": i.role_assignment_id}
        for i in throttled
    ]
    sim_control(env, "POST", "/_sim/faults", {"clear": True, "throttle": rules})
    faulted = apply_batch(env, faulted_items, workers, rng)

    statuses = Counter(
        ReviewItem.objects.filter(pk__in=chosen).values_list("apply_status", flat=True)
    )
    floor = len(throttled) * RETRY_AFTER / workers
    cycle.refresh_from_db()
    return {
        "revocations": count,
        "workers": workers,
        "baseline_s": baseline["seconds"],
        "baseline_duplicates": baseline["duplicates"],
        "throttled_429": sum(1 for r in faulted["removals"] if r["status"] == 429),
        "apply_s": faulted["seconds"],
        "extra_s": faulted["seconds"] - baseline["seconds"],
        "floor_s": floor,
        "apply_per_s": count / faulted["seconds"],
        "removal_requests": len(faulted["reached"]),
        "duplicate_removals": faulted["duplicates"],
        "max_deletes_per_assignment": faulted["max_deletes_per_assignment"],
        "client_retries": faulted["retries"],
        "outcomes": faulted["outcomes"],
        "statuses": dict(statuses),
        "cycle_status": cycle.status,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--page-size", type=int, default=999)
    parser.add_argument("--apply", type=int, default=1000, help="revocations to apply")
    parser.add_argument("--workers", type=int, default=8, help="apply threads")
    args = parser.parse_args()

    ensure_database(BENCH_DB)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.conf import settings

    # The page is rendered without collectstatic: plain storage, as in tests.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    import logging

    logging.getLogger("identities.graph.client").setLevel(logging.WARNING)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in sizes:
            state = Path(scratch) / f"sim-{size}"
            with simulator(size, args.seed, args.page_size, state) as env:
                configure(env)
                truncate_all()
                get_user_model().objects.filter(username__startswith="bench-").delete()
                synced = sync_tenant()
                rita = get_user_model().objects.create_user(
                    "bench-rita", email="rita@bench.example"
                )
                named = new_campaign("Named", "named", [rita])
                named_cycle, named_start = timed_start(named)
                owners = new_campaign("Owners", "owners", [rita])
                _, owners_start = timed_start(owners)
                row = {
                    "size": size,
                    **{k: round(v, 2) for k, v in synced.items()},
                    "items": named_start["items"],
                    "named_start_s": round(named_start["start_s"], 3),
                    "named_statements": named_start["statements"],
                    "owners_start_s": round(owners_start["start_s"], 3),
                    "owners_statements": owners_start["statements"],
                }
                if size == min(sizes):
                    row.update(queue_page(named_cycle, rita))
                if size == max(sizes) and args.apply:
                    applied = apply_revocations(
                        env, named_cycle, args.apply, args.workers, args.seed
                    )
                    row.update(
                        {k: round(v, 3) if isinstance(v, float) else v for k, v in applied.items()}
                    )
            rows.append(row)
            print(json.dumps(row), flush=True)

    print()
    print("| in-scope assignments | start_cycle s (named) | statements | s (owners) | statements |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['items']} | {r['named_start_s']} | {r['named_statements']} "
            f"| {r['owners_start_s']} | {r['owners_statements']} |"
        )
    for r in rows:
        if "queue_ms_median" in r:
            print(
                f"\nqueue page, {r['queue_items']} items ({r['queue_items_on_page']} on the "
                f"first page): {r['queue_ms_median']} ms median of 5, "
                f"{r['queue_statements']} statements, {r['queue_kib']} KiB"
            )
        elif "note" in r:
            print(f"\nqueue page: {r['note']}")
        if "apply_s" in r:
            print(
                f"\napply: {r['revocations']} revocations, each delivered twice, {r['workers']} "
                f"threads, {r['throttled_429']} answered 429 (Retry-After {RETRY_AFTER}s): "
                f"{r['apply_s']} s against {r['baseline_s']} s for {r['revocations']} without "
                f"faults: {r['extra_s']} s extra, floor set by Retry-After {r['floor_s']} s "
                f"(sum of waits / threads); {r['apply_per_s']} removals/s; removal requests "
                f"that reached the tenant {r['removal_requests']}, duplicates "
                f"{r['duplicate_removals']} (baseline {r['baseline_duplicates']}); "
                f"statuses {r['statuses']}; cycle {r['cycle_status']}"
            )


if __name__ == "__main__":
    main()
