"""Load benchmark: reviewers deciding and admins browsing at once, against the production shape.

What runs, all started (and stopped) by this script: the simulator (Graph over HTTPS) serving a
generated tenant, gunicorn with DEBUG=false and collected static files, a Celery worker on Redis
(db 8), PostgreSQL (its own database, spreview_load, dropped and created again each run). The
tenant is synced for real, then one campaign (owners as reviewers, the admins as fallback)
starts a cycle over every privileged assignment, and the worker sends its invitations.

The load, for --seconds from a bounded client of threads (one per person, 127.0.0.1 only):
- --reviewers reviewers (those with the most items), each with a session of their own created
  server-side as sign-in would (Entra ID is not clicked through). Each loads their queue, takes
  the CSRF token from it and decides one item the way the page's htmx form does (approve or
  revoke, with a justification), then asks for /healthz.
- --admins admins (local accounts), each loading the overview, the inventory (filters, pages),
  principal pages, campaigns, the campaign, the cycle, its results and the audit log in turn,
  with a /healthz after each page.
Every virtual user sends its next request when the last one answered (no think time unless
--think), so the server is saturated and queueing is part of every figure: /healthz, which does
no work, is the yardstick. Per page: requests, errors (not 2xx/3xx, timeouts, a decision the
page refused), p50 and p95, and p95 against /healthz's p95 (target: 3 or less). Before the
load, each page alone (median of 3, one client) for scale.

After the load the database is read: every decision whose POST answered "saved" must be the
item's decision now, with its justification (each POST carries a unique one), and have its own
audit event. Lost decisions: target zero.

Usage: python bench/load_bench.py   (--assignments 50000 --seconds 60 --reviewers 50 --admins 5)
Quick check: python bench/load_bench.py --assignments 2000 --seconds 10
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from common import ROOT, configure, simulator, use_database

DATABASE = "spreview_load"
BENCH_DB = use_database(DATABASE)
BROKER = os.environ.get("BENCH_LOAD_BROKER", "redis://127.0.0.1:6379/8")
# A fresh key each run: production refuses to start without one, and no fixed key is trusted.
os.environ.update(SECRET_KEY=secrets.token_urlsafe(50), CELERY_BROKER_URL=BROKER)
TRIVIAL = "healthz"
CSRF_FIELD = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
DECIDE_ACTION = re.compile(rb'action="/reviews/items/(\d+)/decide/"')
SAVED = b'role="status">Decision saved.'
WORKER = [
    sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency=2",
    "--loglevel=WARNING", "--without-gossip", "--without-mingle", "--hostname=load@%h",
]  # fmt: skip
# As deployed (Dockerfile): sync workers; gunicorn's own 30 s timeout.
GUNICORN = (
    f"{sys.executable} -m gunicorn config.wsgi --bind 127.0.0.1:{{port}} --workers {{workers}}"
    " --timeout 30 --graceful-timeout 5 --error-logfile - --no-control-socket"
)


# ----- the services this benchmark starts --------------------------------------------------------


def note(text: str) -> None:
    print(time.strftime("%H:%M:%S"), text, flush=True)


def reset_database(url: str) -> None:
    """Drop and create this benchmark's own database: never any other."""
    import psycopg2
    from psycopg2 import sql

    base, name = url.rsplit("/", 1)
    if name != DATABASE:
        raise SystemExit(f"refusing to reset {name!r}: this benchmark owns only {DATABASE}")
    admin = psycopg2.connect(base + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def child(name: str, command: list[str], env: dict[str, str], log: Path):
    """A child process in its own process group; stopped with everything it started, always."""
    with open(log, "w") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop in 20 s: killed", flush=True)
        # Whatever is left of the group: gunicorn's or celery's own children.
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_until(check, what: str, timeout: float, processes=()) -> float:
    """Poll `check` until true; seconds waited. Fails early when a child has stopped."""
    started = time.monotonic()
    while not check():
        for p in processes:
            if p.poll() is not None:
                raise RuntimeError(f"{what}: a child process exited with {p.returncode}")
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.3)
    return time.monotonic() - started


def answers(port: int) -> bool:
    try:
        return fetch(port, "GET", "/healthz", {}, timeout=2)[0] == 200
    except OSError:
        return False


# ----- HTTP, as a browser behind the TLS proxy would send it -------------------------------------


def fetch(port: int, method: str, path: str, headers: dict[str, str], body: bytes | None = None,
          timeout: float = 30.0) -> tuple[int, bytes, http.client.HTTPMessage]:  # fmt: skip
    """One request on a new connection (gunicorn's sync workers close each one anyway)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(), response.headers
    finally:
        connection.close()


@dataclass
class Browser:
    """One person's cookies. Production cookies are Secure: the requests say they came through a
    TLS-terminating proxy (X-Forwarded-Proto, trusted through SECURE_PROXY_SSL_HEADER), as they
    would in a deployment, so the product's own https-only settings stay on."""

    port: int
    cookies: dict[str, str]
    timeout: float

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes, str]:  # fmt: skip
        """Status, body and where a redirect points."""
        origin = f"https://127.0.0.1:{self.port}"
        sent = {
            "Host": f"127.0.0.1:{self.port}",
            "X-Forwarded-Proto": "https",
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            **(headers or {}),
        }
        body = None
        if form is not None:
            body = urlencode(form).encode()
            sent.update({"Content-Type": "application/x-www-form-urlencoded", "Origin": origin})
        status, content, answer = fetch(self.port, method, path, sent, body, self.timeout)
        for header in answer.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return status, content, answer.get("Location", "")


@dataclass
class Recorder:
    """Latencies and errors per page, shared by every thread."""

    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, page: str, browser: Browser, method: str, path: str, **kwargs) -> bytes | None:
        """The body when the page answered 2xx/3xx, else None (the error is recorded)."""
        started = time.perf_counter()
        try:
            status, body, location = browser.request(method, path, **kwargs)
            problem = "" if 200 <= status < 400 else f"{status} {path}"
            if "/accounts/" in location:  # sent to sign in: the session was lost
                problem = f"{status} {path} -> {location}"
        except (OSError, http.client.HTTPException) as exc:
            status, body, problem = 0, b"", f"{type(exc).__name__} {path}"
        elapsed = time.perf_counter() - started
        with self.lock:
            self.times[page].append(elapsed)
            if problem:
                self.errors[page].append(problem)
        return None if problem else body

    def error(self, page: str, problem: str) -> None:
        with self.lock:
            self.errors[page].append(problem)


# ----- the people --------------------------------------------------------------------------------


@dataclass
class Decided:
    item: int
    decision: str
    justification: str


@dataclass
class Reviewer:
    number: int
    browser: Browser
    queue_url: str
    items: list[int]  # theirs alone: no other bench reviewer decides them
    saved: list[Decided] = field(default_factory=list)
    sequence: int = 0

    def next_item(self, page: bytes) -> int:
        """The first pending item of theirs on the page, else (all decided) their item decided
        longest ago, whose decision they now change."""
        mine = set(self.items)
        decided = {d.item for d in self.saved}
        for raw in DECIDE_ACTION.findall(page):
            pk = int(raw)
            if pk in mine and pk not in decided:
                return pk
        last_time = {d.item: i for i, d in enumerate(self.saved)}
        return min(self.items, key=lambda pk: last_time.get(pk, -1))

    def step(self, recorder: Recorder) -> None:
        page = recorder.timed("queue", self.browser, "GET", self.queue_url + "?show=pending")
        if page is not None:
            token = CSRF_FIELD.search(page)
            if token is None:
                recorder.error("decide", "no CSRF token on the queue page")
            else:
                self.decide(recorder, self.next_item(page), token.group(1).decode())
        recorder.timed(TRIVIAL, self.browser, "GET", "/healthz")

    def decide(self, recorder: Recorder, item: int, token: str) -> None:
        self.sequence += 1
        previous = [d.decision for d in self.saved if d.item == item][-1:]
        decision = "approve" if previous != ["approve"] else "revoke"
        justification = f"load r{self.number} #{self.sequence}: checked with the owning team"
        body = recorder.timed(
            "decide",
            self.browser,
            "POST",
            f"/reviews/items/{item}/decide/",
            form={
                "csrfmiddlewaretoken": token,
                "decision": decision,
                "justification": justification,
                "show": "pending",
                "page": "1",
            },
            headers={
                "HX-Request": "true",
                "HX-Target": f"item-{item}",
                "Referer": f"https://127.0.0.1:{self.browser.port}{self.queue_url}",
            },
        )
        if body is None:
            return
        if SAVED in body:
            self.saved.append(Decided(item, decision, justification))
        else:
            recorder.error("decide", f"not saved: item {item}")


@dataclass
class Admin:
    browser: Browser
    pages: list[tuple[str, str]]
    cursor: int = 0

    def step(self, recorder: Recorder) -> None:
        page, path = self.pages[self.cursor % len(self.pages)]
        self.cursor += 1
        recorder.timed(page, self.browser, "GET", path)
        recorder.timed(TRIVIAL, self.browser, "GET", "/healthz")


def admin_pages(cycle, rng_seed: int) -> list[tuple[str, str]]:
    """What admins browse, with filters and pages drawn from the data (a fixed mix)."""
    import random

    from identities.models import Assignment, RoleDefinition, ServicePrincipal

    rng = random.Random(rng_seed)
    principals = list(ServicePrincipal.objects.order_by("pk").values_list("pk", "display_name"))
    roles = list(RoleDefinition.objects.filter(is_privileged=True).values_list("pk", flat=True))
    assignments = Assignment.objects.count()
    last_page = max(1, assignments // 25)
    names = [n for _pk, n in rng.sample(principals, min(20, len(principals))) if n]
    inventory = [
        "",
        "?page=2",
        f"?page={last_page // 2}",
        f"?page={last_page}",
        "?kind=eligible",
        "?ownerless=on",
        "?inactive=on&page=2",
        "?granted_via=pim",
        "?disabled=on",
        *(f"?role={pk}" for pk in rng.sample(roles, min(3, len(roles)))),
        *(f"?q={urlencode({'': n.split()[0]})[1:]}" for n in names[:3]),
    ]
    campaign, pk = cycle.campaign_id, cycle.pk
    results_pages = max(1, cycle.items.count() // 50)
    pages: list[tuple[str, str]] = []
    for i, query in enumerate(inventory):
        principal_pk = rng.choice(principals)[0]
        pages += [
            ("overview", "/overview/"),
            ("inventory", "/inventory/" + query),
            ("principal", f"/principals/{principal_pk}/"),
            ("campaigns", "/reviews/campaigns/"),
            ("campaign", f"/reviews/campaigns/{campaign}/"),
            ("cycle", f"/reviews/cycles/{pk}/"),
            ("results", f"/reviews/cycles/{pk}/results/" + ("" if i % 2 else f"?page={i + 1}")),
            ("results", f"/reviews/cycles/{pk}/results/?page={rng.randint(1, results_pages)}"),
            ("audit", "/reviews/audit/" + ("" if i % 3 else f"?page={i + 1}")),
            ("audit", f"/reviews/audit/?cycle={pk}"),
        ]
    return pages


# ----- setting the stage -------------------------------------------------------------------------


def signed_in(user) -> str:
    """A session for this user, created as a sign-in would (without clicking through Entra)."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import login
    from django.http import HttpRequest

    request = HttpRequest()
    request.META["REMOTE_ADDR"] = "127.0.0.1"
    request.session = import_module(settings.SESSION_ENGINE).SessionStore()
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session.save()
    return request.session.session_key


def sync_tenant() -> dict:
    from identities import sync

    started = time.perf_counter()
    run = sync.sync_configured_tenant(trigger="bench")
    if run.status != "succeeded":
        raise RuntimeError(f"sync failed: {run.error_code} {run.error_message}")
    return {"assignments": run.assignments_seen, "sync_s": round(time.perf_counter() - started, 1)}


def start_review(admins: list) -> object:
    """One campaign over every privileged assignment, owners reviewing, the admins as fallback;
    its first cycle started now (the worker sends the invitations)."""
    from datetime import timedelta

    from django.utils import timezone

    from identities.models import Tenant
    from reviews import services
    from reviews.models import Campaign, Frequency

    campaign = Campaign(
        tenant=Tenant.objects.get(),
        name="Quarterly review of privileged service principals",
        start_at=timezone.now() - timedelta(minutes=1),
        frequency=Frequency.QUARTERLY,
        duration_days=14,
        reviewer_mode=Campaign.ReviewerMode.OWNERS,
        justification=Campaign.Justification.ALWAYS,
        reminder_days=[7, 1],
    )
    campaign = services.create_campaign(campaign, roles=[], reviewers=admins, actor=admins[0])
    return services.start_cycle(campaign.pk, actor=admins[0])


def choose_reviewers(cycle, count: int) -> list[tuple[object, list[int]]]:
    """The owners with the most items, each with items that no other chosen reviewer decides
    (an item with two chosen owners goes to the first), so the last decision is known."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count

    from reviews.models import ItemReviewer

    top = list(
        ItemReviewer.objects.filter(item__cycle=cycle, source="owner")
        .values("user")
        .annotate(n=Count("item"))
        .order_by("-n", "user")
        .values_list("user", flat=True)[:count]
    )
    links = ItemReviewer.objects.filter(item__cycle=cycle, user__in=top).order_by("item", "user")
    taken: set[int] = set()
    items: dict[int, list[int]] = defaultdict(list)
    for user_id, item_id in links.values_list("user", "item"):
        if item_id not in taken:
            taken.add(item_id)
            items[user_id].append(item_id)
    users = get_user_model().objects.in_bulk(top)
    return [(users[u], items[u]) for u in top if items[u]]


def analyze() -> str:
    """Table statistics, as autovacuum would have gathered within a minute of the bulk inserts;
    returns the server's autovacuum setting. Where it is off (as on the machine of the figures),
    the planner would take the 50,000 new items for one row and walk them all per reviewer."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        autovacuum = cursor.fetchone()[0]
        cursor.execute("ANALYZE")
    return autovacuum


def make_admins(count: int) -> list:
    from django.contrib.auth import get_user_model

    return [
        get_user_model().objects.create_user(
            f"load-admin-{i}", email=f"admin{i}@load.example", is_staff=True
        )
        for i in range(1, count + 1)
    ]


# ----- the run -----------------------------------------------------------------------------------


def drive(people: list, seconds: float, timeout: float, think: float) -> tuple[Recorder, float]:
    """Every person in a thread of their own, each stopping at the deadline; bounded: threads
    still out after a last request's timeout are left (daemons) and reported."""
    recorder = Recorder()
    started = time.monotonic()
    deadline = started + seconds

    def run(person) -> None:
        while time.monotonic() < deadline:
            person.step(recorder)
            if think:
                time.sleep(think)

    threads = [threading.Thread(target=run, args=(p,), daemon=True) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.1, deadline + 2 * timeout + 5 - time.monotonic()))
    stuck = sum(t.is_alive() for t in threads)
    if stuck:
        recorder.error("client", f"{stuck} threads still waiting at the end")
    return recorder, time.monotonic() - started


def alone(admin: Browser, reviewer: Browser, pages: list[tuple[str, str]], queue_url: str) -> dict:
    """Each kind of page alone, one client, median of 3 (after one to warm up), in ms."""
    first: dict[str, str] = {}
    for page, path in pages:
        first.setdefault(page, path)
    first[TRIVIAL] = "/healthz"
    medians = {}
    for page, path in [*first.items(), ("queue", queue_url + "?show=pending")]:
        browser = reviewer if page == "queue" else admin
        timings = []
        for _ in range(4):
            started = time.perf_counter()
            try:
                status, _body, _location = browser.request("GET", path)
            except (OSError, http.client.HTTPException):
                status = 0
            timings.append(time.perf_counter() - started if 200 <= status < 400 else None)
            if timings[-1] is None:
                break  # a page that fails alone fails under load too: no need to wait again
        ok = [t for t in timings[1:] if t is not None]
        medians[page] = round(statistics.median(ok) * 1000, 1) if len(ok) == 3 else None
        note(f"alone: {page} {medians[page]} ms")
    return medians


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def lost_decisions(cycle, reviewers: list[Reviewer]) -> dict:
    """Every decision the page said was saved, read back from the database."""
    from reviews.models import AuditEvent, ReviewItem

    saved = [d for r in reviewers for d in r.saved]
    last = {d.item: d for d in saved}  # one reviewer per item, in the order they were saved
    now = dict(
        (pk, (decision, justification))
        for pk, decision, justification in ReviewItem.objects.filter(pk__in=last).values_list(
            "pk", "decision", "justification"
        )
    )
    wrong = [d.item for d in last.values() if now.get(d.item) != (d.decision, d.justification)]
    audited = set()
    for new in AuditEvent.objects.filter(
        cycle_id=cycle.pk, action__startswith="reviews.decision."
    ).values_list("new", flat=True):
        audited.add((new or {}).get("justification"))
    unaudited = [d for d in saved if d.justification not in audited]
    return {
        "saved_posts": len(saved),
        "items_decided": len(last),
        "lost": len(wrong),
        "without_audit_event": len(unaudited),
        "audit_events": len(audited),
    }


def report(recorder: Recorder, seconds: float, quiet: dict[str, float]) -> list[dict]:
    """Per page; the rate is of requests sent in the measured seconds."""
    trivial_p95 = percentile(recorder.times[TRIVIAL], 0.95) or float("nan")
    order = ["queue", "decide", "overview", "inventory", "principal", "campaigns", "campaign",
             "cycle", "results", "audit", TRIVIAL]  # fmt: skip
    rows = []
    for page in order + sorted(set(recorder.times) - set(order)):
        times = recorder.times.get(page, [])
        p95 = percentile(times, 0.95)
        rows.append(
            {
                "page": page,
                "requests": len(times),
                "per_s": round(len(times) / seconds, 1),
                "errors": len(recorder.errors.get(page, [])),
                "p50_ms": round(percentile(times, 0.5) * 1000, 1),
                "p95_ms": round(p95 * 1000, 1),
                "ratio": round(p95 / trivial_p95, 2),
                "alone_ms": quiet.get(page),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assignments", type=int, default=50000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--reviewers", type=int, default=50)
    parser.add_argument("--admins", type=int, default=5)
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn workers (as deployed)")
    parser.add_argument("--think", type=float, default=0.0, help="pause between steps, seconds")
    parser.add_argument("--timeout", type=float, default=30.0, help="client timeout per request")
    parser.add_argument(
        "--without",
        default="",
        help="admin pages to leave out, comma-separated (to measure the rest while one is known "
        "to be slow)",
    )
    parser.add_argument(
        "--no-analyze", action="store_true", help="leave table statistics to autovacuum"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (logs)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--page-size", type=int, default=999, help="simulator's Graph page size")
    args = parser.parse_args()
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C: everything started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    reset_database(BENCH_DB)
    import redis

    redis.Redis.from_url(BROKER).flushdb()  # db 8 is this benchmark's own
    scratch = Path(tempfile.mkdtemp(prefix="spreview-load-"))
    os.environ.update(
        STATIC_ROOT=str(scratch / "static"),
        SPREVIEW_VAR_DIR=str(scratch / "var"),
        EMAIL_URL=f"filemail:///{scratch / 'mail'}",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"],
        cwd=ROOT,
        check=True,
    )
    import logging

    logging.getLogger("identities.graph.client").setLevel(logging.WARNING)
    note(f"scratch (simulator state, logs, mail): {scratch}")
    port = free_port()
    summary: dict = {"assignments_requested": args.assignments, "scratch": str(scratch)}
    with ExitStack() as stack:
        sim_env = stack.enter_context(
            simulator(args.assignments, args.seed, args.page_size, scratch / "sim")
        )
        configure(sim_env)
        note(f"simulator up: {args.assignments} assignments; syncing")
        summary.update(sync_tenant())
        note(f"synced: {summary}")
        env = {
            **os.environ,
            **sim_env,
            "DATABASE_URL": BENCH_DB,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "ALLOWED_HOSTS": "127.0.0.1",
            "SITE_URL": f"https://127.0.0.1:{port}",
            "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
        }
        worker = stack.enter_context(child("worker", WORKER, env, scratch / "worker.log"))
        gunicorn = GUNICORN.format(port=port, workers=args.web_workers).split()
        web = stack.enter_context(child("gunicorn", gunicorn, env, scratch / "gunicorn.log"))
        wait_until(lambda: answers(port), "gunicorn", 60, [web, worker])

        admins = make_admins(args.admins)
        started = time.perf_counter()
        cycle = start_review(admins)
        summary.update(
            items=cycle.items.count(),
            start_cycle_s=round(time.perf_counter() - started, 2),
            reviewers_in_cycle=cycle.items.values("reviewer_links__user").distinct().count(),
        )
        from reviews.models import EmailDelivery

        broker = redis.Redis.from_url(BROKER)
        invitations = EmailDelivery.objects.filter(cycle=cycle)

        def invited() -> bool:
            # Nothing queued or running on the broker, and every claimed invitation sent.
            idle = broker.llen("celery") == 0 and broker.hlen("unacked") == 0
            return idle and invitations.exists() and not invitations.filter(sent_at=None).exists()

        summary["invitations_s"] = round(wait_until(invited, "invitations", 600, [web, worker]), 1)
        summary["invitations"] = invitations.count()
        note(f"cycle started, invitations sent: {summary}")

        if not args.no_analyze:
            summary["autovacuum"] = analyze()
        chosen = choose_reviewers(cycle, args.reviewers)
        queue_url = f"/reviews/cycles/{cycle.pk}/queue/"
        reviewers = [
            Reviewer(
                i, Browser(port, {"sessionid": signed_in(user)}, args.timeout), queue_url, items
            )
            for i, (user, items) in enumerate(chosen, 1)
        ]
        left_out = set(filter(None, args.without.split(",")))
        pages = [
            (page, path) for page, path in admin_pages(cycle, args.seed) if page not in left_out
        ]
        summary["left_out"] = sorted(left_out)
        people = [*reviewers]
        for i, admin in enumerate(admins):
            browser = Browser(port, {"sessionid": signed_in(admin)}, args.timeout)
            # Spread over the list and over the kinds of page: not every admin on the same one.
            people.append(Admin(browser, pages, cursor=i * len(pages) // len(admins) + 3 * i))
        summary["reviewer_items"] = sorted(len(items) for _u, items in chosen)
        summary["alone_ms"] = alone(people[-1].browser, reviewers[0].browser, pages, queue_url)

        note(f"load: {len(reviewers)} reviewers, {len(admins)} admins, {args.seconds} s")
        recorder, elapsed = drive(people, args.seconds, args.timeout, args.think)
        summary["elapsed_s"] = round(elapsed, 1)
        summary["decisions"] = lost_decisions(cycle, reviewers)
        summary["worker_timeouts"] = (scratch / "gunicorn.log").read_text().count("WORKER TIMEOUT")
        summary["first_errors"] = {k: v[:3] for k, v in recorder.errors.items() if v}
        rows = report(recorder, args.seconds, summary["alone_ms"])
    if not args.keep:
        shutil.rmtree(scratch)  # kept when the run failed: the logs of gunicorn and the worker

    print(json.dumps(summary))
    print()
    print("| page | requests | per s | errors | p50 ms | p95 ms | p95 / p95(healthz) | alone ms |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['page']} | {r['requests']} | {r['per_s']} | {r['errors']} | {r['p50_ms']} "
            f"| {r['p95_ms']} | {r['ratio']} | {r['alone_ms']} |"
        )
    errors = sum(r["errors"] for r in rows) + len(recorder.errors.get("client", []))
    decisions = summary["decisions"]
    over = [r["page"] for r in rows if r["page"] != TRIVIAL and r["ratio"] > 3]
    print(
        f"\nerrors {errors}; decisions saved {decisions['saved_posts']} on "
        f"{decisions['items_decided']} items, lost {decisions['lost']}, without an audit event "
        f"{decisions['without_audit_event']}; pages over 3x healthz's p95: {over or 'none'}"
    )
    sys.exit(0 if not errors and not decisions["lost"] and not over else 1)


if __name__ == "__main__":
    main()
