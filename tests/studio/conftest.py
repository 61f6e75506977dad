"""The studio as a person meets it: the real ``musicvae studio`` command, and headless Chromium on its page.

Chromium is Debian's (``apt-get install chromium``, in scripts/system-deps.sh), driven by Playwright
for Python without Playwright's own browser download. Tests skip only where it is not installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from studio_helpers import CHROMIUM, CHROMIUM_ARGS, StudioProcess, write_tune


@pytest.fixture(scope="session")
def studio():
    server = StudioProcess()
    yield server
    assert server.stop() in (0, 130), "\n".join(server.lines)  # Ctrl-C: the command's 130
    assert not any("Traceback" in line for line in server.lines), "\n".join(server.lines)


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # The page loads no web fonts (system ones only), so a screenshot has nothing to wait for in
    # document.fonts.ready; on a loaded machine, with a live session polling, that wait alone ran
    # past Playwright's 30 s. Read by Playwright's driver, which sync_playwright() starts below.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PW_TEST_SCREENSHOT_NO_FONTS_READY", "1")
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
                args=CHROMIUM_ARGS, accept_downloads=True, viewport={"width": 1280, "height": 900})
            yield context
            context.close()


@pytest.fixture
def page(browser, studio):
    page = browser.new_page()
    page.goto(studio.url)
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    yield page
    page.close()


@pytest.fixture
def tunes(tmp_path):
    """Two 2-bar tunes A (a C major line up and down) and B (an arpeggio in G), in eighths at 120 BPM."""
    a = write_tune(tmp_path / "tune_a.mid", [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60, 60],
                   seconds=0.25)
    b = write_tune(tmp_path / "tune_b.mid", [67, 71, 74, 79, 74, 71, 67, 62, 67, 71, 74, 71, 67, 62, 59, 62],
                   seconds=0.25)
    return a, b
