"""A correction saved through the real Space in a browser is learned by ``cpc learn`` (``cpc_dataset.feedback``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.fixtures.processes import group_alive, stop_server
from tests.fixtures.serving import ABSTRACT, chrome, screenshot, server_env, set_textarea, start_cpc, wait_until

pytestmark = pytest.mark.integration

CORRECTED = "G05D1/0088, G06F16/35"
NUMBER = "US 9999999 B1"


@pytest.fixture(scope="module")
def feedback_space(model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("space-feedback")
    env = {**server_env(model, tmp), "CPC_FEEDBACK_DIR": str(tmp / "feedback")}
    process = start_cpc("space", tmp, env)
    process.feedback = tmp / "feedback"
    yield process
    stop_server(process)
    assert not group_alive(process.pid)  # stopped by PID, with every process it started


@pytest.fixture(scope="module")
def browser():
    driver = chrome()
    yield driver
    driver.quit()


def test_a_correction_saved_in_the_browser_is_learned_by_cpc_learn(feedback_space, browser, model, tmp_path):
    from selenium.webdriver.common.by import By

    from cpc_models import CpcPredictor

    browser.get(feedback_space.url)
    box = wait_until(lambda: browser.find_element(By.CSS_SELECTOR, "#abstract textarea"))
    box.send_keys(ABSTRACT)
    browser.find_element(By.CSS_SELECTOR, "#predict").click()
    predicted = wait_until(lambda: [el.text for el in browser.find_elements(By.CSS_SELECTOR, "#codes dt")])
    opener = browser.find_element(By.CSS_SELECTOR, "#correct button")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", opener)
    opener.click()  # open the accordion
    codes_box = wait_until(lambda: browser.find_element(By.CSS_SELECTOR, "#corrected-codes textarea"))
    assert wait_until(lambda: codes_box.get_attribute("value")).split(", ") == predicted  # prefilled, to edit
    set_textarea(browser, codes_box, CORRECTED)
    set_textarea(browser, browser.find_element(By.CSS_SELECTOR, "#correction-number textarea"), NUMBER)
    save = browser.find_element(By.CSS_SELECTOR, "#save-correction")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", save)
    save.click()
    note = wait_until(lambda: browser.find_element(By.CSS_SELECTOR, "#correction-note").text)
    assert note.startswith("Correction saved (2 codes)"), note  # the two corrected codes, not the predicted ones
    screenshot(browser, tmp_path, "space-correction")
    files = list((feedback_space.feedback / "data").glob("train-*.parquet"))
    assert len(files) == 1

    out = tmp_path / "learned-model"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "spaces.cli",
            "learn",
            "--model",
            str(model),
            "--data",
            str(feedback_space.feedback),
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads((out / "learned.json").read_text())["learned"][0]
    assert record["source_kind"] == "feedback folder" and record["count"] == 1
    first = CpcPredictor.from_pretrained(out).predict([ABSTRACT])[0].neighbours[0]
    assert first["publication_number"] == "US9999999B1" and first["codes"] == CORRECTED.split(", ")
