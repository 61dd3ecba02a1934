"""`manage.py demo`: the whole product on a simulated tenant, with nothing to install.

Runs the Entra ID simulator in this process, then (as child processes with the simulator's
settings) migrates, syncs the demo tenant once, and starts the web server, a Celery worker and
Celery beat on the embedded defaults (SQLite and a filesystem broker under var/). Ctrl-C stops
everything it started.
"""

from __future__ import annotations

import os
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
        from identities.simulator import Simulator, generate_tenant

        var = Path(settings.VAR_DIR)
        state_dir = var / "simulator"
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
        # Sign-in with Microsoft comes back to SITE_URL's callback: the port the demo serves.
        env.setdefault("SITE_URL", f"http://127.0.0.1:{options['port']}")
        children: list[subprocess.Popen] = []

        def stop(*_args) -> None:
            for child in children:
                if child.poll() is None:
                    child.terminate()
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
            sim.stop()

        def manage(*command: str) -> None:
            subprocess.run([sys.executable, "manage.py", *command], env=env, check=True)

        try:
            manage("migrate", "--no-input", "-v", "0")
            manage("ensure_demo_users")
            self.stdout.write("Syncing the demo tenant from the simulator…")
            manage("sync_tenant")
            python = sys.executable
            children.append(
                subprocess.Popen(
                    [
                        python,
                        "-m",
                        "celery",
                        "-A",
                        "config",
                        "worker",
                        "--loglevel=WARNING",
                        "--concurrency=2",
                        "--without-gossip",
                        "--without-mingle",
                    ],
                    env=env,
                )
            )
            children.append(
                subprocess.Popen(
                    [
                        python,
                        "-m",
                        "celery",
                        "-A",
                        "config",
                        "beat",
                        "--loglevel=WARNING",
                        f"--schedule={var / 'celerybeat-schedule'}",
                    ],
                    env=env,
                )
            )
            children.append(
                subprocess.Popen(
                    [
                        python,
                        "-m",
                        "gunicorn",
                        "config.wsgi",
                        "--bind",
                        f"127.0.0.1:{options['port']}",
                        "--workers",
                        "2",
                        "--access-logfile",
                        "-",
                        "--log-level",
                        "warning",
                    ],
                    env=env,
                )
            )
        except (subprocess.CalledProcessError, OSError) as exc:
            stop()
            raise CommandError(f"demo could not start: {exc}") from exc

        url = f"http://127.0.0.1:{options['port']}/"
        self.stdout.write(self.style.SUCCESS(f"\nspreview is running at {url}"))
        self.stdout.write("  Sign in with Microsoft, then pick a person of the simulated tenant:")
        for line in demo_people_lines(sim.tenant):
            self.stdout.write(f"    {line}")
        for username, password, is_staff in DEMO_USERS:
            role = "admin" if is_staff else "read-only"
            self.stdout.write(f"  or with a password: {username} / {password} ({role})")
        self.stdout.write(f"  simulated Entra ID at {sim.authority_host} (state in {state_dir})")
        self.stdout.write("Press Ctrl-C to stop everything.\n")

        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
        # Started in the background by a shell, SIGINT arrives ignored; Ctrl-C must still stop us.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            if options["exit_after_start"]:
                self._wait_for_web(url)
                return
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            raise CommandError("a demo process stopped unexpectedly; stopping the rest")
        except KeyboardInterrupt:
            self.stdout.write("Stopping…")
        finally:
            stop()

    def _wait_for_web(self, url: str) -> None:
        import requests

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(url + "accounts/login/", timeout=2).status_code == 200:
                    self.stdout.write("web answered")
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise CommandError("the web server did not answer within 60 s")


def demo_people_lines(tenant, reviewers: int = 2) -> list[str]:
    """Who to pick at the simulated sign-in page: the admin, the auditor, a few owners."""
    owners: dict[str, int] = {}
    for principal_id, *_ in tenant.expected_privileged_sp_assignments():
        for owner_id in getattr(tenant.service_principals.get(principal_id), "owner_ids", []):
            owners[owner_id] = owners.get(owner_id, 0) + 1
    lines = []
    shown = 0
    for person in tenant.demo_people():
        if person.roles:
            lines.append(f"{person.display_name} ({', '.join(person.roles).lower()})")
        elif person.user_id in owners and shown < reviewers:
            shown += 1
            lines.append(
                f"{person.display_name} (reviewer: owns {owners[person.user_id]} privileged "
                "assignments)"
            )
    return lines
