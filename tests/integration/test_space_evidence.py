"""The Space's evidence panel in real Chromium: similar patents, highlighted terms, the CPC level tree, the
out-of-scope note, and script in the input shown as text."""

from __future__ import annotations

import pytest

from tests.fixtures.processes import group_alive, stop_server
from tests.fixtures.serving import ABSTRACT, XSS, chrome, screenshot, server_env, set_textarea, start_cpc, wait_until

pytest.importorskip("gradio")
pytest.importorskip("gradio_client")
pytest.importorskip("selenium")
pytest.importorskip("sklearn")

pytestmark = pytest.mark.integration

# CPC titles as the scraper saves them in labels.json (the real wording), and one carrying a script
TITLES = {
    "G": "Physics",
    "G06N": "Computing arrangements based on specific computational models",
    "G06N3/00": "Computing arrangements based on biological models",
    "G06N3/08": "Learning methods",
    "G06N3/045": "Combinations of networks",
    "G06N3/084": "Backpropagation, e.g. using gradient descent",
    "G06N3/092": "Reinforcement learning",
    "G06N3/0464": "Convolutional networks [CNN, ConvNet]",
    "G06N3/006": "<script>window.__xss = 3</script>Artificial life",
}
PHARMA = (
    "Pharmaceutical composition. A pharmaceutical composition comprising a compound of formula (I) or a "
    "pharmaceutically acceptable salt thereof and an excipient, for the oral treatment of hypertension in tablets."
)


@pytest.fixture(scope="module")
def space(model, tmp_path_factory):
    import json
    import shutil

    from tests.conftest import DATASET

    tmp = tmp_path_factory.mktemp("space-evidence")
    dataset = tmp / "dataset"
    shutil.copytree(DATASET, dataset)
    labels = json.loads((dataset / "labels.json").read_text())
    (dataset / "labels.json").write_text(json.dumps({**labels, "titles": TITLES}))
    process = start_cpc("space", tmp, {**server_env(model, tmp), "CPC_DATASET": str(dataset)}, "--concurrency", "2")
    yield process
    stop_server(process)
    assert not group_alive(process.pid)  # stopped by PID, with every process it started


@pytest.fixture(scope="module")
def browser():
    driver = chrome()
    yield driver
    driver.quit()


def _submit(driver, url: str, text: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url)
    box = wait_until(lambda: driver.find_element(By.CSS_SELECTOR, "#abstract textarea"))
    set_textarea(driver, box, text)
    driver.find_element(By.CSS_SELECTOR, "#predict").click()


def test_evidence_endpoint_answers_html(space):
    from gradio_client import Client

    client = Client(space.url, verbose=False, analytics_enabled=False, download_files=False)
    page = client.predict(ABSTRACT, 5, 0, api_name="/evidence")
    assert 'id="neighbours"' in page and 'id="level-tree"' in page and "<mark" in page


def test_browser_shows_neighbours_highlights_and_the_level_tree(space, browser, tmp_path):
    from selenium.webdriver.common.by import By

    _submit(browser, space.url, ABSTRACT)
    rows = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#evidence #neighbours tbody tr"), timeout=60)
    assert len(rows) == 5
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#evidence #neighbours a")]
    assert len(links) == 5 and all(h.startswith("https://patents.google.com/patent/") for h in links)
    marks = browser.find_elements(By.CSS_SELECTOR, "#evidence #highlighted mark")
    assert marks and all(m.text.lower() in ABSTRACT.lower() for m in marks)
    tree = browser.find_element(By.CSS_SELECTOR, "#evidence #level-tree")
    assert tree.find_elements(By.CSS_SELECTOR, "li[data-level='section'] li[data-level='subclass']")
    assert not browser.find_elements(By.CSS_SELECTOR, "#evidence #out-of-scope")
    codes = browser.find_element(By.CSS_SELECTOR, "#evidence #explained-codes").text
    assert "Combinations of networks" in codes or "Learning methods" in codes  # titles beside the codes
    assert "<script>window.__xss = 3</script>Artificial life" in codes  # a title's script is text
    assert browser.execute_script("return window.__xss === undefined")
    browser.set_window_size(1280, 2600)  # the whole panel in one picture
    try:
        browser.execute_script("document.querySelector('#abstract').scrollIntoView()")
        screenshot(browser, tmp_path, "space-evidence")
    finally:
        browser.set_window_size(1280, 1100)


def test_browser_flags_a_pharmaceutical_abstract_as_out_of_scope(space, browser, tmp_path):
    from selenium.webdriver.common.by import By

    _submit(browser, space.url, PHARMA)
    note = wait_until(lambda: browser.find_element(By.CSS_SELECTOR, "#evidence #out-of-scope").text, timeout=60)
    assert "unreliable" in note
    screenshot(browser, tmp_path, "space-out-of-scope")


def test_browser_shows_script_in_the_input_as_text_in_the_evidence(space, browser, tmp_path):
    from selenium.webdriver.common.by import By

    _submit(browser, space.url, XSS)
    text = wait_until(lambda: browser.find_element(By.CSS_SELECTOR, "#evidence #highlighted").text, timeout=60)
    assert "<script>window.__xss = 1</script>" in text
    assert browser.execute_script("return window.__xss === undefined")
    screenshot(browser, tmp_path, "space-evidence-script-payload")
