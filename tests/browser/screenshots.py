"""Where the browser tests put their screenshots.

A test run must not rewrite tracked files: by default the images go to `var/screenshots/`
(gitignored). `SCREENSHOTS=docs` (`make screenshots`) writes them over the README's images in
`docs/screenshots/`, for a change that means to update them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DESTINATIONS = {"var": ROOT / "var" / "screenshots", "docs": ROOT / "docs" / "screenshots"}


def screenshot_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The folder named by SCREENSHOTS (`var` unless set); any other value is a mistake."""
    choice = environ.get("SCREENSHOTS", "").strip() or "var"
    if choice not in DESTINATIONS:
        raise ValueError(f"SCREENSHOTS={choice!r}: use 'docs' to update the README's images")
    return DESTINATIONS[choice]


def screenshot(page, name: str) -> None:
    """Save the page as `<name>.png` in the chosen folder."""
    folder = screenshot_dir()
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"))
