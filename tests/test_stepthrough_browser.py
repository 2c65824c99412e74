"""step_through's page in a real browser: headless Chromium (Debian's
chromium and chromium-driver, driven by selenium) opens the file, steps
through every step with the buttons and the arrow keys, and reads the
grads the page shows against the engine's own backward(). A screenshot of
the last step is saved for a person to look at (its path is printed).

Skipped when selenium or the browser is missing, unless
PYGRAD_REQUIRE_BROWSER=1 (CI sets it: there a skip is a failure).
"""
import os
import shutil

import pytest

import pygrad
from pygrad._stepthrough import replay

REQUIRED = os.environ.get("PYGRAD_REQUIRE_BROWSER") == "1"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def _missing():
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    if not CHROMIUM or not DRIVER:
        return "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def browser():
    why = _missing()
    if why:
        if REQUIRED:
            pytest.fail(f"PYGRAD_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1200,700"):
        options.add_argument(arg)
    # The driver given by path: selenium must not try to download one.
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    yield driver
    driver.quit()


def expression(V):
    """The lecture's neuron: tanh(x1*w1 + x2*w2 + b), with a shared node on top."""
    x1, x2 = V(2.0, label="x1"), V(0.0, label="x2")
    w1, w2, b = V(-3.0, label="w1"), V(1.0, label="w2"), V(6.8813735870195432, label="b")
    x1w1, x2w2 = x1 * w1, x2 * w2
    s = x1w1 + x2w2
    n = s + b
    o = n.tanh()
    oo = o * o
    out = oo + o
    for v, name in ((x1w1, "x1w1"), (x2w2, "x2w2"), (s, "s"), (n, "n"), (o, "o"), (oo, "oo"), (out, "out")):
        v.label = name
    return out, [x1, x2, w1, w2, b, x1w1, x2w2, s, n, o, oo, out]


def texts(driver, css):
    from selenium.webdriver.common.by import By
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, css)]


@pytest.mark.slow    # a browser start and some 40 round trips to it: ~2.5 s
def test_click_through_every_step_and_read_the_engines_grads(engine, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    root, named = expression(engine)
    steps = replay(root)
    page = tmp_path / f"steps-{pygrad.get_engine()}.html"
    pygrad.viz.step_through(root, page)
    root.backward()                      # the engine's own numbers, for the page to match
    browser.get(page.as_uri())
    assert browser.find_element(By.ID, "pg-step").text == f"step 0 of {len(steps) - 1}"
    nxt = browser.find_element(By.ID, "pg-next")
    for k, step in enumerate(steps[1:], 1):
        nxt.click()
        assert browser.find_element(By.ID, "pg-step").text == f"step {k} of {len(steps) - 1}"
        assert texts(browser, "#pg-panel .pg-after") == [repr(after) for _, _, _, after in step["updates"]]
        hot = browser.find_elements(By.CSS_SELECTOR, ".pg-hot")
        assert len(hot) == 1 and step["node"]._op in hot[0].text
    nxt.click()                          # past the end: stays on the last step
    assert browser.find_element(By.ID, "pg-step").text.startswith(f"step {len(steps) - 1} ")
    # every named Value's box shows the engine's grad (the exact one in data-exact)
    shown = {}
    for g in browser.find_elements(By.CSS_SELECTOR, "g.pg-g"):
        label = g.find_element(By.CSS_SELECTOR, "text" if not g.find_elements(By.TAG_NAME, "circle")
                               else "text:nth-of-type(2)").text
        grad = g.find_element(By.CSS_SELECTOR, "[id^=pg-g]")
        shown[label] = (grad.text, grad.get_attribute("data-exact"))
    assert shown == {v.label: (f"grad {v.grad:.4f}", repr(v.grad)) for v in named}
    shot = tmp_path / f"step-through-{pygrad.get_engine()}.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 1000
    print(f"screenshot: {shot}")
    # back with the arrow key, to the first step with the button
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_LEFT)
    assert browser.find_element(By.ID, "pg-step").text.startswith(f"step {len(steps) - 2} ")
    browser.find_element(By.ID, "pg-first").click()
    assert browser.find_element(By.ID, "pg-step").text.startswith("step 0 ")
    assert {t for t in texts(browser, "text[id^=pg-g]")} == {"grad 0.0000", "grad 1.0000"}
