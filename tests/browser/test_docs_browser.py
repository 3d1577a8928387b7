"""The built docs site in headless Chromium: every page loads with no console error and no request
outside the site, formulas are native MathML, and the report screenshots load.

Needs the site built first (``.ci/run`` builds it before the tests):
``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
SITE = Path(__file__).resolve().parents[2] / "docs" / "_build" / "html"
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing: the browser test needs Debian's chromium", allow_module_level=True)
if not (SITE / "index.html").exists():
    pytest.skip(f"the docs are not built ({SITE}): python -m sphinx -W --keep-going -b html docs docs/_build/html",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs the playwright package")

LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGES = sorted(str(p.relative_to(SITE)) for p in SITE.rglob("*.html") if "_static" not in p.parts)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def tab(browser):
    """One tab for the whole module, recording console messages, errors and requests as they come.

    Navigating one tab costs a quarter second a page; a new context and tab per page cost 0.6 s (measured).
    """
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    events: dict[str, list] = {"console": [], "errors": [], "requests": []}
    page.on("console", lambda message: events["console"].append((message.type, message.text)))
    page.on("pageerror", lambda error: events["errors"].append(str(error)))
    page.on("request", lambda request: events["requests"].append(request.url))
    yield page, events
    context.close()


@pytest.fixture
def open_page(tab):
    """Load a page of the site in the module's tab; the events are this page's alone."""
    page, events = tab

    def load(name: str):
        page.goto("about:blank")  # the previous page's last events arrive before the lists are emptied
        for recorded in events.values():
            recorded.clear()
        page.goto((SITE / name).as_uri(), wait_until="load")
        # One rendered frame after "load": the pages' scripts are deferred (run before it), so a fixed
        # 200 ms sleep here only cost 15 s over the 75 pages.
        page.evaluate("() => new Promise(done => requestAnimationFrame(() => setTimeout(done, 0)))")
        return page, events

    return load


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_clean_and_offline(open_page, name: str) -> None:
    _, events = open_page(name)
    assert [text for kind, text in events["console"] if kind == "error"] == []
    assert events["errors"] == []
    outside = [url for url in events["requests"] if not url.startswith(SITE.as_uri())]
    assert outside == [], f"{name} requested something outside the site"


def test_formulas_are_native_mathml(open_page) -> None:
    page, _ = open_page("reference/catalog.html")
    assert page.locator("math").count() > 31, "every case's formula and closed forms are MathML"
    assert page.evaluate("document.querySelector('math') instanceof MathMLElement")
    box = page.locator("div.math-block math").first.bounding_box()
    assert box is not None and box["width"] > 0 and box["height"] > 0


@pytest.mark.parametrize("image", ["report.png", "report-failure.png"])
def test_report_screenshots_load(open_page, image: str) -> None:
    page, _ = open_page("report.html")
    width = page.evaluate("src => Array.from(document.images).filter(i => i.src.endsWith(src))"
                          ".map(i => i.naturalWidth)[0] || 0", image)
    assert width > 500, f"{image} is missing or empty on the report page"
