"""Sync benchmark: full sync and re-sync against the raw fetch of the same Graph pages.

Every privilege is included: directory-role assignments and the application permissions of the
monitored APIs (the generator grants about as many permissions as role assignments), with the
principals' details and their app registrations (owners, federated credentials).

For each tenant size the simulator runs in its own process (Graph is remote in real life, and
sharing the GIL would flatter neither side). Reported per size, all measured in this one run:
- floor: wall time of fetching every page the sync fetches, with the same client, no database;
- full sync on an empty database, its ratio to the floor, rows per second, database round trips;
- re-sync with nothing changed: wall time, ratio, round trips against pages fetched;
- peak Python memory (tracemalloc) of a full sync, which must not grow with tenant size;
- the same roleAssignments listing fetched with our client and with the official msgraph-sdk.

Usage: make bench   (or: python bench/sync_bench.py --sizes 1000,10000,50000)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from common import (
    ROOT,
    configure,
    count_round_trips,
    ensure_database,
    simulator,
    use_database,
)

BENCH_DB = use_database("spreview_sync_bench")


def new_directory():
    from identities.graph import GraphClient
    from identities.graph.directory import Directory

    directory = Directory(GraphClient.from_settings())
    directory.client.tokens.token()  # both sides are timed with a warm token
    return directory


def fetch_everything(directory) -> dict:
    """Exactly the Graph traffic of a sync, with nothing written anywhere."""
    from django.conf import settings

    from identities.graph.directory import (
        ASSIGNMENT_SOURCES,
        DEFAULT_ACCESS_ROLE_ID,
        GET_BY_IDS_LIMIT,
        is_service_principal,
    )
    from identities.privileged_roles import PRIVILEGED_TEMPLATE_IDS

    started = time.perf_counter()
    definitions = [d for page in directory.role_definitions() for d in page]
    flagged = directory.privileged_role_ids()
    privileged = (
        flagged
        if flagged is not None
        else {d["id"] for d in definitions if d.get("templateId") in PRIVILEGED_TEMPLATE_IDS}
    )
    resources = [directory.resource_principal(a) for a in settings.APP_PERMISSION_RESOURCES]
    principal_ids: set[str] = set()
    for source in ASSIGNMENT_SOURCES:
        for page in directory.assignment_pages(source, privileged):
            principal_ids.update(
                item["principal"]["id"] for item in page if is_service_principal(item)
            )
    grants = 0
    for resource in filter(None, resources):
        for page in directory.app_role_grant_pages(resource["id"]):
            held = [
                item["principalId"]
                for item in page
                if item.get("principalType") == "ServicePrincipal"
                and item.get("appRoleId") != DEFAULT_ACCESS_ROLE_ID
            ]
            grants += len(held)
            principal_ids.update(held)
    tenant_id = settings.AZURE_TENANT_ID.lower()
    ordered = sorted(principal_ids)
    for start in range(0, len(ordered), GET_BY_IDS_LIMIT):
        found = directory.service_principals(ordered[start : start + GET_BY_IDS_LIMIT])
        directory.owners_of([o["id"] for o in found])
        directory.app_registrations_of(
            sorted(
                {
                    o["appId"]
                    for o in found
                    if o.get("servicePrincipalType") == "Application"
                    and str(o.get("appOwnerOrganizationId") or "").lower() == tenant_id
                    and o.get("appId")
                }
            )
        )
    for _page in directory.sign_in_pages():
        pass
    stats = directory.client.stats
    return {
        "seconds": time.perf_counter() - started,
        "pages": stats.pages,
        "requests": stats.requests,
        "privileged": sorted(privileged),
        "grants": grants,
    }


def truncate() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE identities_assignment, identities_serviceprincipal, "
            "identities_application, identities_roledefinition, identities_syncrun, "
            "identities_tenant CASCADE"
        )


def round_trip_seconds(samples: int = 300) -> float:
    """Median wall time of one trivial statement: the unit of the re-sync budget."""
    from django.db import connection

    times = []
    with connection.cursor() as cursor:
        for _ in range(samples):
            started = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def timed_sync(directory) -> dict:
    from identities import sync
    from identities.models import Application, Assignment

    with count_round_trips() as trips:
        started = time.perf_counter()
        run = sync.sync_configured_tenant(trigger="bench", directory=directory)
        seconds = time.perf_counter() - started
    if run.status != "succeeded":
        raise RuntimeError(f"sync failed: {run.error_code} {run.error_message}")
    stats = directory.client.stats
    return {
        "seconds": seconds,
        "round_trips": trips["n"],
        "pages": stats.pages,
        "requests": stats.requests,
        "assignments": run.assignments_seen,
        "grants": Assignment.objects.filter(last_seen_run=run.pk, kind="app_permission").count(),
        "applications": Application.objects.filter(last_seen_run=run.pk).count(),
        "principals": run.principals_seen,
        "created": run.assignments_created,
        "updated": run.assignments_updated,
    }


def peak_memory_of_full_sync() -> int:
    from identities import sync

    truncate()
    directory = new_directory()
    tracemalloc.start()
    tracemalloc.reset_peak()
    run = sync.sync_configured_tenant(trigger="bench", directory=directory)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert run.status == "succeeded", run.error_message
    return peak


def sdk_comparison(env: dict[str, str], role_ids: list[str]) -> dict:
    """The roleAssignments listing through our client, then through msgraph-sdk (own process)."""
    from identities.graph.directory import ACTIVE_ASSIGNMENTS

    directory = new_directory()
    started = time.perf_counter()
    ours = sum(len(page) for page in directory.assignment_pages(ACTIVE_ASSIGNMENTS, role_ids))
    our_seconds = time.perf_counter() - started
    command = [
        sys.executable,
        str(ROOT / "bench" / "msgraph_sdk_fetch.py"),
        "--graph-url", env["GRAPH_URL"],
        "--authority-host", env["AZURE_AUTHORITY_HOST"],
        "--tenant-id", env["AZURE_TENANT_ID"],
        "--client-id", env["AZURE_CLIENT_ID"],
        "--client-secret", env["AZURE_CLIENT_SECRET"],
        "--ca-path", env["REQUESTS_CA_BUNDLE"],
        "--role-ids", ",".join(role_ids),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return {"ours_seconds": our_seconds, "ours_items": ours, "sdk_error": result.stderr[-500:]}
    sdk = json.loads(result.stdout.strip().splitlines()[-1])
    return {
        "ours_seconds": our_seconds,
        "ours_items": ours,
        "sdk_seconds": sdk["seconds"],
        "sdk_items": sdk["items"],
        "sdk_over_ours": sdk["seconds"] / our_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--no-sdk", action="store_true")
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the peak-memory sync (a fourth full pass)"
    )
    args = parser.parse_args()

    ensure_database(BENCH_DB)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    results = []
    rtt = round_trip_seconds()
    print(json.dumps({"db_round_trip_ms": round(rtt * 1000, 3)}), flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        for size in (int(s) for s in args.sizes.split(",")):
            state = Path(scratch) / f"sim-{size}"
            with simulator(size, args.seed, args.page_size, state) as env:
                configure(env)
                floor = fetch_everything(new_directory())
                truncate()
                full = timed_sync(new_directory())
                again = timed_sync(new_directory())
                peak = 0 if args.no_memory else peak_memory_of_full_sync()
                sdk = {} if args.no_sdk else sdk_comparison(env, floor["privileged"])
            row = {
                "size": size,
                "assignments": full["assignments"],
                "grants": full["grants"],
                "applications": full["applications"],
                "principals": full["principals"],
                "pages": floor["pages"],
                "requests": floor["requests"],
                "floor_s": round(floor["seconds"], 2),
                "sync_s": round(full["seconds"], 2),
                "sync_ratio": round(full["seconds"] / floor["seconds"], 3),
                "rows_per_s": round(full["assignments"] / full["seconds"]),
                "sync_round_trips": full["round_trips"],
                "resync_s": round(again["seconds"], 2),
                "resync_ratio": round(again["seconds"] / floor["seconds"], 3),
                "resync_round_trips": again["round_trips"],
                "resync_changes": again["created"] + again["updated"],
                # Target: re-sync ≤ fetch + one DB round trip per page.
                "resync_budget_s": round(floor["seconds"] + floor["pages"] * rtt, 2),
                "peak_mib": round(peak / 2**20, 1),
                **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in sdk.items()},
            }
            results.append(row)
            print(json.dumps(row), flush=True)
    print()
    header = (
        "| privileges | of which permissions | principals | app registrations | pages | floor s "
        "| sync s | ratio | rows/s | DB trips | re-sync s | budget s | DB trips | peak MiB "
        "| SDK/ours |"
    )
    print(header)
    print("|" + "---|" * 15)
    for r in results:
        print(
            f"| {r['assignments']} | {r['grants']} | {r['principals']} | {r['applications']} "
            f"| {r['pages']} | {r['floor_s']} "
            f"| {r['sync_s']} | {r['sync_ratio']} | {r['rows_per_s']} | {r['sync_round_trips']} "
            f"| {r['resync_s']} | {r['resync_budget_s']} | {r['resync_round_trips']} "
            f"| {r['peak_mib']} | {r.get('sdk_over_ours', '-')} |"
        )


if __name__ == "__main__":
    main()
