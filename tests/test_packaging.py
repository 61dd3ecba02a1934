"""The production install carries the product only: no simulator, no demo, no PyJWT of its own.

`entrasim/` and `demo/` sit in the checkout for development; `pip install .` and the image
must not ship them (issue 10), and the product must start without them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds a wheel, starts the product in its own process

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("config", "accounts", "identities", "reviews", "outbox")
NOT_PRODUCT = ("entrasim", "demo")


def build_wheel(tmp_path: Path) -> Path:
    """`pip wheel .` on a copy of the tree (a build in the checkout would leave build/ behind)."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    junk = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in (*PRODUCT, *NOT_PRODUCT):
        shutil.copytree(ROOT / package, source / package, ignore=junk)
    out = tmp_path / "wheel"
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip, "--no-index", str(source), "-w", str(out)],
        check=True,
        timeout=120,
    )
    (wheel,) = out.glob("*.whl")
    return wheel


def test_it_builds_a_wheel_with_the_product_packages_and_without_the_simulator_or_demo(tmp_path):
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata,) = (n for n in names if n.endswith(".dist-info/METADATA"))
        requires = (
            HeaderParser().parsestr(archive.read(metadata).decode()).get_all("Requires-Dist", [])
        )
    tops = {name.split("/", 1)[0] for name in names}
    for package in PRODUCT:
        assert f"{package}/__init__.py" in names
    # Data the product reads at run time ships beside its code.
    assert "identities/tiers_builtin.json" in names
    assert not tops & set(NOT_PRODUCT)
    assert not [n for n in names if "simulator" in n or "/commands/demo" in n]
    # What the product needs at run time, without extras; PyJWT is only the simulator's.
    runtime = [r.split(";")[0] for r in requires if "extra ==" not in r]
    assert any(r.startswith("Django") for r in runtime)
    assert not [r for r in runtime if r.lower().startswith("pyjwt")]


def test_it_starts_the_product_without_the_demo_app_when_demo_is_not_installed(tmp_path):
    # Outside the checkout only the installed packages import: demo and entrasim do not.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    env["SPREVIEW_VAR_DIR"] = str(tmp_path / "var")
    env.pop("PYTHONPATH", None)
    script = (
        "import importlib.util, django; from django.conf import settings; django.setup();"
        "from django.core.management import call_command; call_command('check');"
        "print(importlib.util.find_spec('entrasim'), 'demo' in settings.INSTALLED_APPS)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["None", "False"]


def test_it_imports_the_simulator_without_loading_django():
    script = (
        "import sys, entrasim, entrasim.server, entrasim.generate;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'django', 'config', "
        "'accounts', 'identities', 'reviews', 'outbox', 'demo'}))"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
