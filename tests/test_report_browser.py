"""The design reports in a real browser: Debian's headless chromium driven by Selenium through
chromium-driver (both installed by ``.ci/setup --browser``).

Each committed report (``examples/*/report/report.html``) and one generated here is opened with
the network blocked; the test checks that the equations render as math (MathML elements with a
non-zero size, fraction numerators above their denominators, no ``\\frac``, ``\\sigma`` or ``$$``
in the visible text), that every image decoded (``naturalWidth > 0``), that the console has no
error and that the page requested nothing but ``data:`` URIs, and saves a full-page screenshot
(to ``$GATEJAC_SCREENSHOTS`` if set, else the test's tmp dir).  Without chromium the test skips,
except under CI (``CI=true``), where it fails.
"""

import os
import shutil
from pathlib import Path

import pytest
import torch

from gatejac import verify

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = sorted(ROOT.glob("examples/*/report/report.html"))
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
TEX = ("\\frac", "\\sigma", "\\partial", "\\odot", "\\begin", "$$")
BROKEN_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<p>$$\\frac{a}{b}$$</p><img src="data:image/png;base64,AAAA" alt="broken">
<script>console.error("a failing script")</script></body></html>"""


def _browser_missing() -> str | None:
    if CHROMIUM and DRIVER:
        return None
    reason = "chromium and chromium-driver are not installed (bash .ci/setup --browser installs them)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {reason}")
    return reason


@pytest.fixture(scope="module")
def browser():
    reason = _browser_missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1600", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http://*", "https://*", "ws://*", "wss://*"]})
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A report generated now: a small torch GRU against torch.nn.GRUCell."""
    out = tmp_path_factory.mktemp("fresh")
    verify.design_report("gru_torch", implementation=torch.nn.GRUCell(3, 4), out=out, sizes={"n": 8, "m": 2},
                         progress=False)
    return out / "report.html"


@pytest.fixture
def screenshots(tmp_path):
    folder = Path(os.environ.get("GATEJAC_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _open(driver, page: Path) -> dict:
    """Load ``page``, unfold every ``<details>``, and measure what a reader would see."""
    driver.get_log("browser")  # drop earlier pages' messages
    driver.get(page.resolve().as_uri())
    driver.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
    return driver.execute_script("""
        const boxes = [...document.querySelectorAll('math')].map(m => m.getBoundingClientRect());
        const fractions = [...document.querySelectorAll('mfrac')].map(f => {
            const [top, bottom] = [...f.children].map(c => c.getBoundingClientRect());
            return top.bottom <= bottom.top + 1;
        });
        return {
            maths: boxes.length,
            empty: boxes.filter(b => !(b.width > 0 && b.height > 0)).length,
            fractions: fractions.length, stacked: fractions.filter(x => x).length,
            text: document.body.innerText,
            images: [...document.images].map(i => ({complete: i.complete, width: i.naturalWidth})),
            resources: performance.getEntriesByType('resource').map(r => r.name),
            height: document.documentElement.scrollHeight,
        };""")


def _errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _screenshot(driver, folder: Path, name: str, height: int) -> Path:
    driver.set_window_size(1280, min(max(height, 800), 16000))
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 1600)
    return path


def test_the_examples_have_committed_reports():
    names = {page.parents[1].name for page in COMMITTED}
    assert {"ugrnn", "minimal_rnn", "cifg_lstm"} <= names


@pytest.mark.parametrize("page", [*COMMITTED, "fresh"], ids=lambda p: p if p == "fresh" else p.parents[1].name)
def test_a_report_renders_its_math_and_figures_offline(browser, fresh, screenshots, page):
    page = fresh if page == "fresh" else page
    seen = _open(browser, page)
    assert seen["maths"] >= 5 and seen["empty"] == 0, seen["empty"]
    assert seen["fractions"] > 0 and seen["stacked"] == seen["fractions"]  # MathML laid out, not inline text
    assert not [t for t in TEX if t in seen["text"]]
    assert len(seen["images"]) >= 4 and all(i["complete"] and i["width"] > 0 for i in seen["images"])
    assert all(name.startswith("data:") for name in seen["resources"]), seen["resources"]
    assert _errors(browser) == []
    name = "fresh" if page == fresh else page.parents[1].name
    shot = _screenshot(browser, screenshots, name, seen["height"])
    assert shot.stat().st_size > 10_000


def test_the_checks_catch_a_broken_page(browser, tmp_path):
    """Raw TeX, an image that does not decode and a console error are each caught."""
    page = tmp_path / "broken.html"
    page.write_text(BROKEN_PAGE)
    seen = _open(browser, page)
    assert seen["maths"] == 0 and "$$" in seen["text"]
    assert [i["width"] for i in seen["images"]] == [0]
    assert any("a failing script" in message for message in _errors(browser))


def test_the_network_is_blocked(browser, tmp_path):
    """A page that asks for a remote resource gets nothing, and the request is visible."""
    page = tmp_path / "remote.html"
    page.write_text('<!DOCTYPE html><html><body><img src="https://example.org/x.png" alt="remote"></body></html>')
    seen = _open(browser, page)
    assert [i["width"] for i in seen["images"]] == [0]
    assert any(name.startswith("https://") for name in seen["resources"]) or _errors(browser)
