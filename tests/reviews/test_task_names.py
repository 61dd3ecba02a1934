"""The services ask for work by task name through the outbox and never import a tasks module
(tasks import services, not the reverse); every name they ask for is a task the worker knows."""

from __future__ import annotations

import ast
from pathlib import Path

from celery import current_app

import identities.tasks  # noqa: F401  (registers the tasks, as the worker does)
import reviews.tasks  # noqa: F401
from identities import services as mirror
from reviews.services import common

ROOT = Path(__file__).resolve().parents[2]


def test_every_task_name_the_services_ask_for_is_a_registered_task():
    names = [v for k, v in vars(common).items() if k.isupper() and str(v).startswith("reviews.")]
    assert len(names) == 5
    assert [n for n in [*names, mirror.SYNC_TENANT] if n not in current_app.tasks] == []


def test_no_service_module_imports_a_tasks_module_even_inside_a_function():
    modules = [
        *sorted((ROOT / "reviews" / "services").glob("*.py")),
        ROOT / "identities/services.py",
    ]
    found = []
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or "", *(a.name for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if any(n == "tasks" or n.endswith(".tasks") for n in names):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
