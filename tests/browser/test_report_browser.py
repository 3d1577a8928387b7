"""The HTML report in headless Chromium, built from checks actually run against two small torch engines.

One engine is correct; the other returns reversed gradients (an anti-diagonal Jacobian for
element-wise cases), negated scalars, and carries HTML in its name.  The page must load with
no console errors and no request but its own file, show the matrix and the broken engine's
details, filter, and render MathML natively.  Screenshots go to ``reports/`` for humans.
"""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing: the browser test needs Debian's chromium", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs the playwright package")
torch = pytest.importorskip("torch", reason="the test engines are built on torch")

REPORTS = Path(__file__).resolve().parents[2] / "reports"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
BROKEN = 'broken<img src=x onerror="alert(1)">'


class TinyTorch:
    """A correct engine in a few lines: torch.autograd.grad for VJPs, torch.func.jvp for JVPs."""

    name = "tinytorch"
    supported_dtypes = ("float64", "float32")

    def __init__(self) -> None:
        self.xp = types.SimpleNamespace(sin=torch.sin, cos=torch.cos, log=torch.log, maximum=torch.maximum,
                                        zeros_like=torch.zeros_like, sum=torch.sum, stack=torch.stack, concat=torch.cat)

    def vjp(self, fn, primals, cotangent):
        leaves = [torch.tensor(np.array(p, copy=True), requires_grad=True) for p in primals]
        out = fn(*leaves)
        seed = torch.as_tensor(np.array(cotangent, copy=True), dtype=out.dtype).reshape(out.shape)
        grads = torch.autograd.grad(out, leaves, grad_outputs=seed, allow_unused=True)
        return tuple(np.zeros_like(p) if g is None else g.detach().numpy().copy() for p, g in zip(primals, grads, strict=True))

    def jvp(self, fn, primals, tangents):
        ps = tuple(torch.tensor(np.array(p, copy=True)) for p in primals)
        ts = tuple(torch.tensor(np.array(t, copy=True)) for t in tangents)
        return torch.func.jvp(fn, ps, ts)[1].detach().numpy().copy()


class Broken(TinyTorch):
    """Reversed gradients (element-wise Jacobians come out anti-diagonal), negated scalars."""

    name = BROKEN

    def vjp(self, fn, primals, cotangent):
        return tuple(-g if g.ndim == 0 else g[..., ::-1].copy() for g in super().vjp(fn, primals, cotangent))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from verigrad.exhibits import fd_step_scan
    from verigrad.records import FAIL
    from verigrad.reference import get_case
    from verigrad.report import write_report
    from verigrad.runner import plan, run_check

    engines = {"tinytorch": TinyTorch(), BROKEN: Broken()}
    cases = [get_case(c) for c in ("scalar.chain", "elementwise.mul", "neuron.relu")]
    specs = plan(list(engines), ("float64",), cases, ["vjp", "structure", "kink"])
    specs += plan(["tinytorch"], ("float32",), [get_case("scalar.chain")], ["vjp"])
    # The VJP failures shrunk, as a user gets them (a small counterexample's Jacobians are drawn); the structure ones at
    # the example that found them, which the page says (shrinking them was a third of this module's time).
    verdicts = [run_check(spec, engines[spec.engine], "dev", seed=1, max_examples=5, shrink=spec.property != "structure")
                for spec in specs]
    for verdict in verdicts:  # as an expectations file would: the broken engine's kink failure is known
        if verdict.engine == BROKEN and verdict.property == "kink":
            verdict.expected, verdict.expectation_reason = FAIL, "known: negates at the kink"
    assert any(v.status == "fail" for v in verdicts) and any(v.status == "pass" for v in verdicts)
    header = {"started": "2026-01-01T00:00:00+00:00", "command": "pytest tests/browser", "seed": 1, "profile": "dev",
              "mode": "probabilistic", "versions": {"python": "3", "numpy": np.__version__, "tinytorch": torch.__version__},
              "fd_steps": fd_step_scan()}
    return write_report([header], verdicts, tmp_path_factory.mktemp("browser") / "index.html")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def tab(browser):
    """One tab for the module: a new context and tab per test cost 0.6 s, a reload a quarter of that."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.events = {"console": [], "errors": [], "requests": [], "dialogs": []}
    page.on("console", lambda message: page.events["console"].append((message.type, message.text)))
    page.on("pageerror", lambda error: page.events["errors"].append(str(error)))
    page.on("request", lambda request: page.events["requests"].append(request.url))

    def dialog(d):
        page.events["dialogs"].append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    yield page
    context.close()


@pytest.fixture
def page(tab, report: Path):
    """The report, opened afresh (no filter a previous test set), with everything it logs or requests recorded."""
    tab.goto("about:blank")
    for recorded in tab.events.values():
        recorded.clear()
    tab.goto(report.as_uri(), wait_until="load")
    return tab


def _visible(page, selector: str) -> int:
    return page.evaluate(
        "s => Array.from(document.querySelectorAll(s)).filter(e => e.getClientRects().length > 0).length", selector
    )


def test_loads_clean_and_offline(page, report: Path) -> None:
    # One rendered frame: the report's script runs before "load", so errors from it are in by then.
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => setTimeout(done, 0)))")
    assert [text for kind, text in page.events["console"] if kind == "error"] == []
    assert page.events["errors"] == []
    assert page.events["requests"] == [report.as_uri()], "the report must not request anything but itself"
    assert page.events["dialogs"] == [], "an engine's name ran as markup"
    REPORTS.mkdir(exist_ok=True)
    page.screenshot(path=str(REPORTS / "screenshot.png"))


def test_engine_names_render_as_text(page) -> None:
    headers = page.locator("table.matrix thead th.engine").all_inner_texts()
    assert BROKEN in [h.strip() for h in headers]
    assert page.locator("img").count() == 0


def test_matrix_and_failing_detail(page) -> None:
    matrix = page.locator("table.matrix")
    assert matrix.is_visible()
    cell = page.locator("tr[data-case='elementwise.mul'] td.cell.cat-fail a").first
    target = cell.get_attribute("href")
    cell.click()
    block = page.locator(f"[id='{target[1:]}']")
    sync_api.expect(block).to_be_in_viewport()
    assert block.get_attribute("data-engine") == BROKEN
    assert block.locator(".diagnosis").first.is_visible()
    assert block.locator("figure.heatmap svg").first.is_visible()
    assert block.locator("pre[id^=repro]").first.is_visible()
    block.locator("button.copy").first.click()
    sync_api.expect(block.locator("button.copy").first).not_to_have_text("copy")
    REPORTS.mkdir(exist_ok=True)
    page.screenshot(path=str(REPORTS / "screenshot-failure.png"))
    assert [text for kind, text in page.events["console"] if kind == "error"] == []


def test_failures_only_filter(page) -> None:
    passing, failing = "tr.vrow[data-failing='0']", "tr.vrow[data-failing='1']"
    assert _visible(page, passing) > 0
    page.locator("#f-failures").check()
    assert _visible(page, passing) == 0
    assert _visible(page, failing) > 0
    assert _visible(page, "table.matrix tbody tr[data-failing='0']") == 0
    page.locator("#f-failures").uncheck()
    assert _visible(page, passing) > 0


def test_engine_and_dtype_filters(page) -> None:
    page.select_option("#f-engine", "tinytorch")
    shown = page.evaluate("Array.from(document.querySelectorAll('.engine-block'))"
                          ".filter(e => e.getClientRects().length).map(e => e.dataset.engine)")
    assert shown and set(shown) == {"tinytorch"}
    page.select_option("#f-engine", "")
    page.select_option("#f-dtype", "float32")
    dtypes = page.evaluate("Array.from(document.querySelectorAll('.dtype-block, td.cell'))"
                           ".filter(e => e.getClientRects().length).map(e => e.dataset.dtype)")
    assert dtypes and set(dtypes) == {"float32"}


def test_mathml_renders_natively(page) -> None:
    math = page.locator("section.case .formula math").first
    box = math.bounding_box()
    assert box is not None and box["width"] > 0 and box["height"] > 0
    assert page.evaluate("document.querySelector('math') instanceof MathMLElement")
    fraction = page.locator("table.args mfrac").first.bounding_box()
    assert fraction is not None and fraction["height"] > 0
