"""`manage.py simulator`: run the local Entra ID (login authority + Graph) until interrupted.

Prints the settings the app needs (`AZURE_TENANT_ID=…` lines, one per line, flushed) so that a
parent process, the demo or a benchmark can read them and point spreview at the simulator.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

STATE_FILE = "tenant.json"


class Command(BaseCommand):
    help = "Run the Entra ID / Microsoft Graph simulator over HTTPS until interrupted."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--state-dir",
            default="var/simulator",
            help="tenant state, CA and keys (relative paths start at the project root)",
        )
        parser.add_argument("--host", default="127.0.0.1", help="address to bind")
        parser.add_argument("--port", type=int, default=8443, help="HTTPS port (0: any free)")
        parser.add_argument("--assignments", type=int, default=60, help="tenant size")
        parser.add_argument("--seed", type=int, default=1, help="generator seed")
        parser.add_argument(
            "--app-permission-grants",
            type=int,
            default=None,
            help="application permissions held by service principals (default: as many as "
            "--assignments)",
        )
        parser.add_argument("--page-size", type=int, default=100, help="Graph page size")
        parser.add_argument(
            "--token-lifetime", type=int, default=3599, help="access token lifetime, seconds"
        )
        parser.add_argument(
            "--reset", action="store_true", help="generate a new tenant over the saved one"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from entrasim import Simulator, generate_tenant

        state_dir = Path(options["state_dir"])
        if not state_dir.is_absolute():
            state_dir = Path(settings.BASE_DIR) / state_dir
        size, seed = options["assignments"], options["seed"]
        kwargs = {
            "host": options["host"],
            "port": options["port"],
            "page_size": options["page_size"],
            "token_lifetime": options["token_lifetime"],
        }
        try:
            if options["reset"] or not (state_dir / STATE_FILE).exists():
                tenant = generate_tenant(
                    privileged_assignments=size,
                    seed=seed,
                    app_permission_grants=options["app_permission_grants"],
                )
                sim = Simulator(tenant, state_dir=state_dir, **kwargs)  # saved on stop
            else:
                sim = Simulator.load(state_dir, **kwargs)
                made = sim.tenant.generated_with
                if made and (made.get("privileged_assignments"), made.get("seed")) != (size, seed):
                    self.stderr.write(
                        f"Loaded the saved tenant (generated with {made}); "
                        "use --reset to generate the requested one."
                    )
            sim.start()
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot start the simulator: {exc}") from exc

        for key, value in sim.env().items():
            self.stdout.write(f"{key}={value}")
        self.stdout.write(
            f"# instead of the secret: AZURE_CLIENT_CERTIFICATE_PATH={sim.client_certificate_path}"
        )
        self.stdout.write(
            f"# or, password-protected: {sim.encrypted_client_certificate_path} "
            f"(AZURE_CLIENT_CERTIFICATE_PASSWORD={sim.client_certificate_password})"
        )
        self.stdout.write(f"# state: {state_dir}; Ctrl-C stops and saves")
        self.stdout.flush()

        stopping = threading.Event()

        def request_stop(signum: int, frame: Any) -> None:
            stopping.set()

        previous = {
            sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            while not stopping.wait(0.5):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            sim.stop()  # flushes unsaved changes
            self.stdout.write("Simulator stopped; state saved.")
