"""``cpc webapp`` over ``cpc serve``, both real processes on 127.0.0.1, driven over HTTP and in Chromium."""

from __future__ import annotations

import pytest

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

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("flask")
pytest.importorskip("selenium")
pytest.importorskip("sklearn")

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def webapp(model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("webapp")
    env = server_env(model, tmp)
    server = start_cpc("serve", tmp, env, ready_path="/health")
    try:
        app = start_cpc(
            "webapp", tmp, {**env, "CPC_BACKEND_URL": server.url, "CPC_BACKEND_KIND": "inference"}, ready_path="/health"
        )
    except Exception:
        stop_server(server)
        raise
    yield app
    stop_server(app)
    stop_server(server)
    assert not group_alive(app.pid) and not group_alive(server.pid)  # every process each started is gone


def test_form_post_returns_codes_with_bars(webapp):
    page = httpx.post(webapp.url + "/", data={"text": ABSTRACT, "top_k": "4"}, timeout=60)
    assert page.status_code == 200
    assert 1 <= page.text.count('class="code-row"') <= 4 and 'class="bar" style="width:' in page.text


@pytest.mark.parametrize(
    "name, text, status, words",
    [
        ("empty", "", 422, "empty"),
        ("whitespace", " \n\t ", 422, "empty"),
        ("binary", "\x00\x01\x02\x03", 422, "binary"),
        ("1MB", "patent " * 150_000, 413, "too long"),
        ("no known word", "zzzz qqqq", 422, "no known words"),
    ],
)
def test_bad_input_gives_a_message_not_a_crash(webapp, name, text, status, words):
    page = httpx.post(webapp.url + "/", data={"text": text}, timeout=60)
    assert page.status_code == status, name
    assert 'id="error"' in page.text and words in page.text
    assert httpx.get(webapp.url + "/health").status_code == 200


def test_xss_payload_comes_back_escaped(webapp):
    page = httpx.post(webapp.url + "/", data={"text": XSS}, timeout=60)
    assert page.status_code == 200
    assert XSS not in page.text and "<script>window.__xss" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in page.text


# -- a person in a browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    driver = chrome()
    yield driver
    driver.quit()


def _submit(driver, url: str, text: str | None = None, typed: str | None = None) -> None:
    driver.get(url)
    box = wait_until(lambda: driver.find_element("css selector", "#text"))
    if typed is not None:
        box.send_keys(typed)
    else:
        set_textarea(driver, box, text)
    driver.find_element("css selector", "#submit").click()


def test_browser_types_an_abstract_and_reads_the_codes(webapp, browser, tmp_path):
    _submit(browser, webapp.url, typed=ABSTRACT)
    rows = wait_until(lambda: browser.find_elements("css selector", "#codes tr.code-row"))
    codes = [row.find_element("css selector", "td.code").text for row in rows]
    widths = [row.find_element("css selector", ".bar").size["width"] for row in rows]
    assert 1 <= len(codes) <= 5 and all("/" in c for c in codes) and all(w > 0 for w in widths)
    assert browser.find_element("css selector", "#text").get_attribute("value") == ABSTRACT
    screenshot(browser, tmp_path, "webapp-prediction")


@pytest.mark.parametrize(
    "name, text, words",
    [
        ("whitespace", "   ", "empty"),
        ("1MB", "patent " * 150_000, "too long"),
        ("binary", "\x01\x02\x03\x04\x05\x06", "binary"),
    ],
)
def test_browser_bad_input_gives_a_message(webapp, browser, tmp_path, name, text, words):
    _submit(browser, webapp.url, text=text)
    message = wait_until(lambda: browser.find_element("css selector", "#error").text)
    assert words in message
    screenshot(browser, tmp_path, f"webapp-bad-input-{name}")


def test_browser_xss_payload_does_not_run(webapp, browser, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException

    _submit(browser, webapp.url, typed=XSS)
    wait_until(lambda: browser.find_elements("css selector", "#codes tr.code-row"))
    assert browser.execute_script("return window.__xss === undefined")
    assert browser.find_element("css selector", "#text").get_attribute("value") == XSS
    assert not browser.find_elements("css selector", "img[src='x']")
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text
    screenshot(browser, tmp_path, "webapp-xss")
