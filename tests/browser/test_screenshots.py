"""A test run leaves the tracked screenshots alone unless asked to update them."""

from __future__ import annotations

import subprocess

import pytest

from .screenshots import ROOT, screenshot_dir


def test_it_puts_screenshots_in_a_folder_git_ignores_by_default():
    folder = screenshot_dir({})

    assert folder == ROOT / "var" / "screenshots"
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(folder / "login.png")], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0, f"{folder} is not ignored by git"


def test_it_writes_over_the_readmes_images_only_when_asked():
    folder = screenshot_dir({"SCREENSHOTS": "docs"})

    assert folder == ROOT / "docs" / "screenshots"
    assert "](docs/screenshots/login.png)" in (ROOT / "README.md").read_text()


def test_it_refuses_a_destination_it_does_not_know():
    with pytest.raises(ValueError, match="SCREENSHOTS='README'"):
        screenshot_dir({"SCREENSHOTS": "README"})
