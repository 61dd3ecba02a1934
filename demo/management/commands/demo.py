"""`manage.py demo`: the whole product on a simulated tenant, with nothing to install.

Runs the Entra ID simulator in this process, then (as child processes with the simulator's
settings) migrates and syncs the demo tenant, creates the sample campaign on the first run (its
first cycle in progress), and starts the web server, a Celery worker and Celery beat on the
embedded defaults (SQLite and a filesystem broker under var/). Ctrl-C or SIGTERM stops everything
it started, and so does any of them stopping on its own.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

DEMO_USERS = (
    # username, password, is_staff: the admin can start syncs; the auditor only reads.
    ("admin", "spreview-demo", True),
    ("auditor", "spreview-demo", False),
)


class Command(BaseCommand):
    help = "Start the dashboard, worker and beat on a simulated Entra ID tenant."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=8000, help="web port (default 8000)")
        parser.add_argument("--sim-port", type=int, default=8443, help="simulator HTTPS port")
        parser.add_argument("--assignments", type=int, default=60, help="demo tenant size")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--reset", action="store_true", help="start from a fresh tenant")
        parser.add_argument(
            "--exit-after-start",
            action="store_true",
            help="stop again once everything answered (used by the tests)",
        )

    def handle(self, *args, **options) -> None:
        from entrasim import Simulator, generate_tenant

        var = Path(settings.VAR_DIR)
        state_dir = var / "simulator"
        if options["reset"]:
            self._reset(var)
        for folder in (var, var / "broker" / "queue", var / "broker" / "processed"):
            folder.mkdir(parents=True, exist_ok=True)
        if options["reset"] or not (state_dir / "tenant.json").exists():
            tenant = generate_tenant(
                privileged_assignments=options["assignments"], seed=options["seed"]
            )
            sim = Simulator(tenant, state_dir=state_dir, port=options["sim_port"])
        else:
            sim = Simulator.load(state_dir, port=options["sim_port"])
        try:
            sim.start()
        except OSError as exc:
            raise CommandError(f"simulator port {options['sim_port']} is busy: {exc}") from exc
        sim.save()

        env = {**os.environ, **sim.env(), "PYTHONUNBUFFERED": "1"}
        env.setdefault("SYNC_INTERVAL_MINUTES", "15")
        env.setdefault("TENANT_DISPLAY_NAME", sim.tenant.display_name)
        # Sign-in with Microsoft comes back to SITE_URL's callback: the port the demo serves.
        env.setdefault("SITE_URL", f"http://127.0.0.1:{options['port']}")
        # Invitations and reminders go to files, not over the welcome text in the terminal.
        mail_dir = (var / "mail").resolve()
        if "EMAIL_URL" not in env:
            env["EMAIL_URL"] = f"filemail:///{mail_dir}"
            mail_note = f"Emails (invitations, reminders) are written to {mail_dir}/"
        else:
            mail_note = "Emails are sent as EMAIL_URL says."
        children: list[tuple[str, subprocess.Popen]] = []

        def stop() -> None:
            # Each child leads its own process group (so that Ctrl-C in the terminal reaches
            # only this process, which stops them in order); a child that does not stop in
            # time is killed with everything it started.
            for _name, child in children:
                if child.poll() is None:
                    child.terminate()
            for _name, child in children:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=15)
                # Whatever is left of its group: a killed gunicorn's or celery's own children.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait()
            sim.stop()

        def manage(*command: str) -> None:
            subprocess.run([sys.executable, "manage.py", *command], env=env, check=True)

        def spawn(name: str, *command: str) -> None:
            child = subprocess.Popen([sys.executable, *command], env=env, start_new_session=True)
            children.append((name, child))

        def interrupt(*_args) -> None:
            raise KeyboardInterrupt

        # SIGTERM and a closed terminal stop the demo like Ctrl-C. Started in the background
        # by a shell, SIGINT arrives ignored; Ctrl-C must still stop us.
        signal.signal(signal.SIGTERM, interrupt)
        signal.signal(signal.SIGHUP, interrupt)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        url = f"http://127.0.0.1:{options['port']}/"
        try:
            try:
                manage("migrate", "--no-input", "-v", "0")
                manage("ensure_demo_users")
                self.stdout.write("Syncing the demo tenant from the simulator…")
                manage("sync_tenant")
                campaign = self._sample_campaign(sim.tenant)
                spawn(
                    "celery worker",
                    "-m",
                    "celery",
                    "--quiet",
                    "-A",
                    "config",
                    "worker",
                    "--loglevel=WARNING",
                    "--concurrency=2",
                    "--without-gossip",
                    "--without-mingle",
                )
                spawn(
                    "celery beat",
                    "-m",
                    "celery",
                    "--quiet",
                    "-A",
                    "config",
                    "beat",
                    "--loglevel=WARNING",
                    f"--schedule={var / 'celerybeat-schedule'}",
                )
                spawn(
                    "web server",
                    "-m",
                    "gunicorn",
                    "config.wsgi",
                    "--bind",
                    f"127.0.0.1:{options['port']}",
                    "--workers",
                    "2",
                    "--graceful-timeout",
                    "5",
                    "--access-logfile",
                    "-",
                    "--log-level",
                    "warning",
                )
            except (subprocess.CalledProcessError, OSError) as exc:
                raise CommandError(f"demo could not start: {exc}") from exc

            self._wait_for_web(url, children)
            self._print_welcome(url, sim, state_dir, campaign, mail_note)
            if options["exit_after_start"]:
                return
            while True:
                for name, child in children:
                    if child.poll() is not None:
                        raise CommandError(
                            f"the {name} stopped unexpectedly (exit code {child.returncode}); "
                            "stopping the rest"
                        )
                time.sleep(0.5)
        except KeyboardInterrupt:
            self.stdout.write("Stopping…")
        finally:
            stop()

    def _reset(self, var: Path) -> None:
        """Start over: a fresh tenant and, on the embedded SQLite database, a fresh database."""
        database = settings.DATABASES["default"]
        name = Path(str(database.get("NAME") or ""))
        if database["ENGINE"].endswith("sqlite3") and name.parent == var:
            for path in (name, *name.parent.glob(name.name + "-*")):
                path.unlink(missing_ok=True)
        else:
            self.stdout.write(
                "--reset keeps the database at DATABASE_URL: only the simulated tenant is new."
            )
        shutil.rmtree(var / "broker", ignore_errors=True)
        for path in var.glob("celerybeat-schedule*"):
            path.unlink(missing_ok=True)

    def _sample_campaign(self, tenant) -> dict:
        """Create the sample campaign once (its first cycle in progress); its summary."""
        from django.core.management import call_command
        from django.db import connections

        from entrasim.tenant import APP_ROLE_ADMIN

        admin = next(p for p in tenant.demo_people() if APP_ROLE_ADMIN in p.roles)
        out = io.StringIO()
        # The filesystem broker has no host name, and kombu says so at WARNING on each use.
        logging.getLogger("kombu.connection").setLevel(logging.ERROR)
        try:
            call_command(
                "demo_campaign",
                tenant_id=tenant.tenant_id,
                admin_oid=admin.user_id,
                admin_name=admin.display_name,
                admin_upn=admin.upn,
                json=True,
                stdout=out,
            )
        finally:
            connections.close_all()  # SQLite: the web and the workers write next
        summary = json.loads(out.getvalue())
        cycle = summary.get("cycle")
        state = "created" if summary["created"] else "kept from the last run"
        self.stdout.write(f"Sample campaign “{summary['campaign']}” ({state})")
        if cycle:
            self.stdout.write(
                f"  cycle {cycle['number']} {cycle['status'].lower()} until "
                f"{cycle['ends_at'][:10]}: {cycle['items']} items, {cycle['decided']} decided"
            )
        return summary

    def _print_welcome(
        self, url: str, sim, state_dir: Path, campaign: dict, mail_note: str
    ) -> None:
        self.stdout.write(self.style.SUCCESS(f"\nspreview is running at {url}"))
        self.stdout.write("  Sign in with Microsoft and pick one of these people:")
        for line in demo_people_lines(sim.tenant, reviews=campaign.get("reviewers")):
            self.stdout.write(f"    {line}")
        self.stdout.write(
            "  Break-glass local accounts (“Local administrator account” on the sign-in page):"
        )
        for username, password, is_staff in DEMO_USERS:
            role = "admin" if is_staff else "auditor, read-only"
            self.stdout.write(f"    {username} / {password} ({role})")
        self.stdout.write(f"  Simulated Entra ID at {sim.authority_host} (state in {state_dir})")
        self.stdout.write(f"  {mail_note}")
        self.stdout.write("Press Ctrl-C to stop everything.\n")

    def _wait_for_web(self, url: str, children: list[tuple[str, subprocess.Popen]]) -> None:
        import requests

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for name, child in children:
                if child.poll() is not None:
                    raise CommandError(f"the {name} stopped while starting")
            try:
                if requests.get(url + "accounts/login/", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise CommandError("the web server did not answer within 60 s")


def demo_people_lines(tenant, reviewers: int = 2, reviews: list[dict] | None = None) -> list[str]:
    """Who to pick at the simulated sign-in page: the admin, the auditor and a few owners.

    reviews: the sample cycle's reviewers (object_id, items, decided), most items first; the
    owners shown are then those with the most to review, each with their share.
    """
    owned: dict[str, set[str]] = {}
    for principal_id, *_ in tenant.expected_privileged_sp_assignments():
        for owner_id in getattr(tenant.service_principals.get(principal_id), "owner_ids", []):
            owned.setdefault(owner_id, set()).add(principal_id)
    share = {r["object_id"]: r for r in reviews or () if r.get("object_id")}

    def items(person_id: str) -> str:
        review = share.get(person_id)
        if not review:
            return ""
        decided = f", {review['decided']} decided" if review["decided"] else ""
        return f"{review['items']} items to review{decided}"

    people = tenant.demo_people()  # every enabled user: exactly whom the picker lists
    lines = []
    for person in people:
        if person.roles:
            role = ", ".join(person.roles).lower()
            todo = items(person.user_id)
            lines.append(
                f"{person.display_name} ({role}"
                + (f"; fallback reviewer with {todo}" if todo else "")
                + ")"
            )
    owners = [p for p in people if not p.roles and p.user_id in owned]
    if share:
        rank = {oid: i for i, oid in enumerate(share)}
        owners = sorted((p for p in owners if p.user_id in share), key=lambda p: rank[p.user_id])
    for person in owners[:reviewers]:
        count = len(owned[person.user_id])
        what = f"owns {count} service principal{'s' if count != 1 else ''} with privileges"
        todo = items(person.user_id)
        lines.append(
            f"{person.display_name} (reviewer: {what}" + (f", {todo}" if todo else "") + ")"
        )
    return lines
