"""Fixtures shared by the test modules: a headless Chromium for the tests of what a person sees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("MNISTLAB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

_INSTALL_HINT = (
    "The browser test needs Playwright (Python) and Debian's Chromium at {chromium}. "
    "Install them with `make install` (Playwright is in requirements.lock) and `make system-deps` "
    "(runs `apt-get install chromium`), or point MNISTLAB_CHROMIUM at a Chromium binary."
)


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(f"Playwright is not importable ({exc}). " + _INSTALL_HINT.format(chromium=CHROMIUM),
                    pytrace=False)
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"no Chromium at {CHROMIUM}. " + _INSTALL_HINT.format(chromium=CHROMIUM), pytrace=False)
    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        except Exception as exc:  # noqa: BLE001 - report any launch failure with the hint
            pytest.fail(f"Chromium at {CHROMIUM} did not start: {exc}\n" + _INSTALL_HINT.format(chromium=CHROMIUM),
                        pytrace=False)
        yield browser
        browser.close()
