"""`manage.py demo` starts the whole product with one command, and stops all of it again.

Run as the README runs it: a separate process on the embedded defaults (SQLite and the
filesystem broker in its own var directory, no DATABASE_URL or CELERY_BROKER_URL).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CAMPAIGN = "Quarterly review of privileged service principals"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes_of(var: Path) -> list[int]:
    """Our processes started with this var directory: the demo's children inherit it."""
    marker = f"SPREVIEW_VAR_DIR={var}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours
            continue
    return found


def _run_demo(var: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SPREVIEW_VAR_DIR": str(var), "DEBUG": "true"}
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "EMAIL_URL", "SITE_URL"):
        env.pop(name, None)
    web, sim = _free_port(), _free_port()
    command = ["demo", "--exit-after-start", "--port", str(web), "--sim-port", str(sim)]
    done = subprocess.run(
        [sys.executable, "manage.py", *command, "--assignments", "24", *extra],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"spreview is running at http://127.0.0.1:{web}/" in done.stdout
    deadline = time.monotonic() + 10
    while _processes_of(var) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_of(var) == [], "the demo left processes running"
    return done


def _campaigns(var: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(var / "spreview.sqlite3") as db:
        return db.execute(
            "SELECT c.name, (SELECT COUNT(*) FROM reviews_cycle y WHERE y.campaign_id = c.id) "
            "FROM reviews_campaign c"
        ).fetchall()


def _sign_in_lines(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "Sign in with Microsoft" in line)
    people = []
    for line in lines[start + 1 :]:
        if not line.startswith("    "):
            break
        people.append(line.strip())
    return people


def test_the_demo_starts_everything_says_whom_to_sign_in_as_and_stops_it_all(tmp_path):
    var = tmp_path / "var"

    first = _run_demo(var)

    out = first.stdout
    people = _sign_in_lines(out)
    tenant = json.loads((var / "simulator" / "tenant.json").read_text())
    # Whom the simulator's picker lists: every enabled user.
    names = {u["id"]: u["display_name"] for u in tenant["users"] if u["account_enabled"]}
    holders = {roles[0]: names[oid] for oid, roles in tenant["app"]["user_roles"].items()}
    assert f"{holders['Admin']} (admin; fallback reviewer with " in out
    assert any(line.startswith(f"{holders['Auditor']} (auditor") for line in people), out
    reviewers = [line for line in people if "(reviewer: owns " in line]
    assert reviewers and all("items to review" in line for line in reviewers), out
    assert "decided)" in reviewers[0], "the first reviewer shown has already decided some"
    assert f"Sample campaign “{CAMPAIGN}” (created)" in out
    assert "admin / spreview-demo" in out and "auditor / spreview-demo" in out
    assert out.index("Sign in with Microsoft") < out.index("admin / spreview-demo")
    assert _campaigns(var) == [(CAMPAIGN, 1)]
    assert {line.split(" (")[0] for line in people} <= set(names.values())
    # Everything the demo writes stays under its var directory (the broker's exchange tables too).
    assert (var / "broker" / "control").is_dir()
    assert not (settings.BASE_DIR / "control").exists()

    with sqlite3.connect(var / "spreview.sqlite3") as db:
        cycle = db.execute("SELECT status FROM reviews_cycle").fetchone()
        campaign = db.execute(
            "SELECT frequency, reviewer_mode, duration_days, reminder_days, default_decision, "
            "justification, lookback_days FROM reviews_campaign"
        ).fetchone()
        decided = db.execute(
            "SELECT COUNT(*) FROM reviews_reviewitem WHERE decision != 'pending'"
        ).fetchone()[0]
        fallback = db.execute(
            "SELECT DISTINCT a.display_name FROM reviews_campaign_reviewers r "
            "JOIN identities_entraaccount a ON a.user_id = r.user_id"
        ).fetchall()
    assert cycle[0] == "active"
    with sqlite3.connect(var / "spreview.sqlite3") as db:
        [(tenant_name,)] = db.execute("SELECT display_name FROM identities_tenant").fetchall()
    assert tenant_name == tenant["display_name"]
    assert campaign == ("quarterly", "owners", 14, "[7, 1]", "recommendation", "on_approve", 30)
    assert decided > 0
    assert fallback == [(holders["Admin"],)]

    # A restart keeps the campaign and its running cycle: nothing is duplicated.
    second = _run_demo(var)

    assert f"Sample campaign “{CAMPAIGN}” (kept from the last run)" in second.stdout
    assert _campaigns(var) == [(CAMPAIGN, 1)]


def test_reset_starts_over_with_a_new_campaign(tmp_path):
    var = tmp_path / "var"
    _run_demo(var)
    with sqlite3.connect(var / "spreview.sqlite3") as db:
        db.execute("UPDATE reviews_campaign SET description = 'changed by hand'")

    again = _run_demo(var, "--reset")

    assert f"Sample campaign “{CAMPAIGN}” (created)" in again.stdout
    assert _campaigns(var) == [(CAMPAIGN, 1)]
    with sqlite3.connect(var / "spreview.sqlite3") as db:
        assert db.execute("SELECT description FROM reviews_campaign").fetchone()[0] != (
            "changed by hand"
        )
