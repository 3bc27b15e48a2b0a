"""Helpers shared by the serving integration tests (test_server, test_space, test_webapp); no tests here.

- ``serving_model``: the committed default model, the one `make demo` serves.
- ``start_cpc``: ``cpc serve|space|webapp`` as a child process on 127.0.0.1 and a free port; the fixture
  that calls it stops it by PID (``spaces.processes.stop_server``).
- ``chrome``: headless Debian Chromium through selenium; ``screenshot`` saves under the test's tmp_path
  (printed) and, with CPC_SAVE_SCREENSHOTS=1, also copies to tests/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from spaces.processes import LOCALHOST, ServerProcess, cpc_command, free_port, start_server
from tests.conftest import DATASET, REPO

SCREENSHOTS = REPO / "tests" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "hub" / "models" / "cpc-default"
ABSTRACT = (
    "Neural network training with reinforcement learning. A robot controller is trained by reinforcement "
    "learning: a deep neural network maps camera images to motor commands and is updated from rewards."
)
XSS = "<script>window.__xss = 1</script><img src=x onerror=\"window.__xss = 2\"> neural network"


def serving_model() -> Path:
    """The committed default model: the servers under test are the ones `make demo` starts."""
    return DEFAULT_MODEL


def server_env(model: Path, tmp: Path) -> dict[str, str]:
    """What every child server gets: the model, the real dataset for examples, nothing written outside tmp."""
    return {
        "CPC_MODEL": str(model),
        "CPC_BACKEND": "auto",
        "CPC_DATASET": str(DATASET),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_TEMP_DIR": str(tmp / "gradio"),
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }


def start_cpc(command: str, tmp: Path, env: dict[str, str], *args: str, ready_path: str = "/") -> ServerProcess:
    """``cpc COMMAND --host 127.0.0.1 --port <free> ARGS``, returned once it answers."""
    port = free_port()
    url = f"http://{LOCALHOST}:{port}"
    return start_server(command, cpc_command(command, "--host", LOCALHOST, "--port", str(port), *args), url,
                        tmp / f"{command}-{port}.log", ready_path=ready_path, env=env, timeout=180)


def chrome():
    """A headless Chromium driver, or a skip where Chromium is not installed (a failure in CI)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        message = "needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    os.environ["SE_AVOID_STATS"] = "true"  # selenium: no usage statistics sent anywhere
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 "--window-size=1280,1100"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def wait_until(condition, timeout: float = 30.0, every: float = 0.2):
    """The first truthy value of ``condition()``; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except Exception:  # noqa: BLE001: the page is still changing
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {getattr(condition, '__name__', 'a condition')}")
        time.sleep(every)


def set_textarea(driver, element, text: str) -> None:
    """Put ``text`` in a textarea as if typed (for texts too long or too odd for send_keys)."""
    driver.execute_script(
        "const el = arguments[0]; el.value = arguments[1];"
        "el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true}));",
        element, text,
    )


def screenshot(driver, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    if os.environ.get("CPC_SAVE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SCREENSHOTS / path.name)
        print(f"screenshot copied to {SCREENSHOTS / path.name}")
    return path
