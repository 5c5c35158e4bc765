"""A headless Chromium, driven by Playwright, for what only a browser can do with the HTML report: pictures of its
charts (``sightspeed report --png``; the pictures in docs/profiling.md are made this way) and the tests that open
it as a user would. Needs the ``report`` extra (``pip install 'sightspeed[report]'``) and a Chromium: the system's
(``chromium`` on PATH, e.g. Debian's package) or ``SIGHTSPEED_CHROMIUM`` naming one; nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import SightspeedError

NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find() -> str | None:
    """The Chromium to use, or None."""
    named = os.environ.get("SIGHTSPEED_CHROMIUM")
    if named:
        return named if os.path.exists(named) else None
    return next((path for path in map(shutil.which, NAMES) if path), None)


def missing() -> str | None:
    """Why no browser can be driven here (None: one can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install 'sightspeed[report]')"
    if find() is None:
        return ("no Chromium found (install the system's chromium package, or set SIGHTSPEED_CHROMIUM to a Chromium "
                "executable)")
    return None


@contextmanager
def page(width: int = 1150, height: int = 900) -> Iterator:
    """A fresh page of a headless Chromium (Playwright's ``Page``)."""
    why = missing()
    if why:
        raise SightspeedError(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find(), args=["--no-sandbox"])
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def export_png(html: str | os.PathLike[str], folder: str | os.PathLike[str]) -> list[Path]:
    """A PNG of the whole report and one of each section that holds a chart (``<section id=...>``), into
    ``folder``: ``report.png``, ``roofline.png``, ..."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with page() as p:
        p.goto(Path(html).resolve().as_uri())
        p.screenshot(path=str(folder / "report.png"), full_page=True)
        written.append(folder / "report.png")
        for section in p.query_selector_all("section:has(svg)"):
            name = section.get_attribute("id")
            section.screenshot(path=str(folder / f"{name}.png"))
            written.append(folder / f"{name}.png")
    return written
