"""``cpc space`` as a real process on 127.0.0.1: gradio_client round trips and a headless Chromium session."""

from __future__ import annotations

import csv

import pytest

from cpc_dataset.errors import InputError
from spaces.client import CpcClient
from tests.fixtures.processes import group_alive, stop_server
from tests.fixtures.serving import (
    ABSTRACT,
    XSS,
    chrome,
    screenshot,
    server_env,
    set_textarea,
    start_cpc,
    wait_until,
)

pytest.importorskip("gradio")
pytest.importorskip("gradio_client")
pytest.importorskip("selenium")
pytest.importorskip("sklearn")

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def space(model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("space")
    process = start_cpc("space", tmp, server_env(model, tmp), "--concurrency", "2")
    yield process
    stop_server(process)
    assert not group_alive(process.pid)  # stopped by PID, with every process it started


@pytest.fixture(scope="module")
def gradio(space, tmp_path_factory):
    from gradio_client import Client

    return Client(
        space.url, verbose=False, analytics_enabled=False, download_files=str(tmp_path_factory.mktemp("downloads"))
    )


def test_original_client_call_gets_a_label_of_the_five_best_codes(gradio, model):
    from cpc_models import CpcPredictor

    label = gradio.predict(abstract=ABSTRACT, api_name="/predict")  # the original Space's call, unchanged
    ranked = CpcPredictor.from_pretrained(model).ranked([ABSTRACT], 5)[0]
    assert [c["label"] for c in label["confidences"]] == [c.code for c in ranked]
    assert label["label"] == ranked[0].code
    assert [round(c["confidence"], 4) for c in label["confidences"]] == [c.score for c in ranked]


def test_predict_endpoint_by_name(gradio):
    label, table, note = gradio.predict(ABSTRACT, 3, 0, api_name="/predict_details")
    codes = [c["label"] for c in label["confidences"]]
    assert 1 <= len(codes) <= 3 and label["label"] == codes[0]
    assert table["headers"] == ["code", "score", "section", "class", "subclass"]
    assert [row[0] for row in table["data"]] == codes
    assert all(row[4] == row[0][:4] and row[3] == row[0][:3] and row[2] == row[0][0] for row in table["data"])
    assert isinstance(note, str)


def test_a_global_threshold_filters_codes(gradio):
    low, _, _ = gradio.predict(ABSTRACT, 20, 0.01, api_name="/predict_details")
    high, _, _ = gradio.predict(ABSTRACT, 20, 0.99, api_name="/predict_details")
    assert len(low["confidences"]) == 20 and len(high["confidences"]) == 1  # min_codes keeps the best one


@pytest.mark.parametrize("text", ["", "   \n ", "patent " * 150_000, "\x00\x01\x02\x03 binary"])
def test_bad_input_is_an_app_error_with_a_message(gradio, text):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="Bad input"):
        gradio.predict(text, 3, 0, api_name="/predict_details")


@pytest.mark.parametrize(
    "args, words",
    [
        ((12345, 3, 0), "expected a text"),
        (({"text": ABSTRACT}, 3, 0), "expected a text"),
        ((ABSTRACT, "abc", 0), "top_k"),
        ((ABSTRACT, 3, 7), "threshold"),
        ((ABSTRACT, 3, "NaN"), "threshold"),
        (("😀🚀 …", 3, 0), "no word"),
    ],
)
def test_raw_values_get_a_message_not_a_null_error(gradio, args, words):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=words):
        gradio.predict(*args, api_name="/predict_details")


def test_batch_csv_endpoint(gradio, tmp_path):
    from gradio_client import handle_file

    source = tmp_path / "abstracts.csv"
    with source.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["title", "abstract"])
        writer.writerows(
            [["Robot", ABSTRACT], ["Nothing", ""], ["Router", "A router forwards packets by learned rules."]]
        )
    path, note = gradio.predict(handle_file(str(source)), 3, 0, api_name="/predict_csv")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert note == "3 rows classified." and len(rows) == 3
    assert rows[0]["codes"] and rows[1]["reason"] == "empty text"


def test_cpc_client_over_the_space(space):
    client = CpcClient(space.url, kind="space", timeout=30)
    first, empty = client.predict([ABSTRACT, " "], top_k=4)
    assert 1 <= len(first.codes) <= 4 and first.sections and empty.reason == "empty text"
    assert client.health()
    with pytest.raises(InputError, match="limit"):
        client.predict("patent " * 10_000)


def test_webapp_over_the_space_chosen_by_env(space, model, tmp_path):
    import httpx

    env = {**server_env(model, tmp_path), "CPC_BACKEND_URL": space.url, "CPC_BACKEND_KIND": "space"}
    webapp = start_cpc("webapp", tmp_path, env, ready_path="/health")
    try:
        page = httpx.post(webapp.url + "/", data={"text": ABSTRACT, "top_k": "3"}, timeout=60)
        assert page.status_code == 200 and page.text.count('class="code-row"') >= 1
        assert f"Backend: {space.url} (space)" in page.text
    finally:
        stop_server(webapp)


# -- a person in a browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    driver = chrome()
    yield driver
    driver.quit()


def _codes(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [el.text for el in driver.find_elements(By.CSS_SELECTOR, "#codes dt")]


def _toast(driver) -> str:
    from selenium.webdriver.common.by import By

    return " ".join(el.text for el in driver.find_elements(By.CSS_SELECTOR, "[data-testid='toast-text']"))


def _submit(driver, text: str | None = None, typed: str | None = None):
    from selenium.webdriver.common.by import By

    for close in driver.find_elements(By.CSS_SELECTOR, "[data-testid='toast-close']"):
        close.click()
    box = driver.find_element(By.CSS_SELECTOR, "#abstract textarea")
    box.clear()
    if typed is not None:
        box.send_keys(typed)
    else:
        set_textarea(driver, box, text)
    driver.find_element(By.CSS_SELECTOR, "#predict").click()


def test_browser_types_an_abstract_and_reads_the_codes(space, browser, tmp_path):
    browser.get(space.url)
    wait_until(lambda: browser.find_element("css selector", "#abstract textarea"))
    _submit(browser, typed=ABSTRACT)
    codes = wait_until(lambda: _codes(browser))
    assert 1 <= len(codes) <= 5 and all("/" in c for c in codes)
    table = browser.find_element("css selector", "#code-table").text
    assert codes[0] in table and codes[0][:4] in table
    screenshot(browser, tmp_path, "space-prediction")


def test_browser_shows_examples_from_the_test_split(space, browser):
    browser.get(space.url)
    examples = wait_until(
        lambda: browser.find_elements("css selector", ".gallery-item, button.gallery-item, [class*='gallery'] button")
    )
    assert examples


@pytest.mark.parametrize(
    "name, text, words",
    [
        ("empty", "", "empty"),
        ("whitespace", "  \n\t  ", "empty"),
        ("1MB", "patent " * 150_000, "limit is"),
        ("binary", "\x01\x02\x03\x04\x05\x06 \x07\x08", "binary"),
    ],
)
def test_browser_bad_input_gives_a_message(space, browser, tmp_path, name, text, words):
    browser.get(space.url)
    wait_until(lambda: browser.find_element("css selector", "#abstract textarea"))
    _submit(browser, text=text)
    message = wait_until(lambda: _toast(browser), timeout=60)
    assert "Bad input" in message and words in message
    screenshot(browser, tmp_path, f"space-bad-input-{name}")
    _submit(browser, typed=ABSTRACT)  # and the Space still answers
    codes = wait_until(lambda: _codes(browser))
    assert 1 <= len(codes) <= 5 and all("/" in c for c in codes)


def test_browser_script_payload_is_shown_as_text(space, browser, tmp_path):
    browser.get(space.url)
    wait_until(lambda: browser.find_element("css selector", "#abstract textarea"))
    _submit(browser, typed=XSS)
    codes = wait_until(lambda: _codes(browser))
    assert 1 <= len(codes) <= 5 and all("/" in c for c in codes)
    assert browser.execute_script("return window.__xss === undefined")
    assert browser.find_element("css selector", "#abstract textarea").get_attribute("value") == XSS
    screenshot(browser, tmp_path, "space-script-payload")
