"""``cpc serve`` as a real process on 127.0.0.1: the Inference-API contract through huggingface_hub's client."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from cpc_dataset.errors import InputError
from cpc_models.registry import labels_from_config, read_model_config
from spaces.client import BackendError, CpcClient
from tests.fixtures.processes import group_alive, stop_server
from tests.fixtures.serving import ABSTRACT, XSS, server_env, start_cpc

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("sklearn")

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    process = start_cpc("serve", tmp, server_env(model, tmp), ready_path="/health")
    yield process
    stop_server(process)
    assert not group_alive(process.pid)  # stopped by PID, with every process it started


@pytest.fixture
def hub_requests(monkeypatch):
    """URLs huggingface_hub requests during a test, with its offline switch off for that test.

    HF_HUB_OFFLINE=1 (set for the whole test run) makes huggingface_hub refuse every URL, 127.0.0.1 too.
    With telemetry off (HF_HUB_DISABLE_TELEMETRY=1; otherwise its user-agent header fetches a registry of
    "agent harnesses" from the Hub once a day), the list proves a client given a URL never calls the Hub.
    """
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    urls: list[str] = []
    hooks = get_session().event_hooks["request"]
    hooks.append(lambda request: urls.append(str(request.url)))
    yield urls
    hooks.pop()


def test_inference_client_works_unchanged(server, model, hub_requests):
    from huggingface_hub import InferenceClient

    client = InferenceClient(model=server.url, timeout=30)
    result = client.text_classification(ABSTRACT, top_k=3)
    assert len(result) == 3
    assert {r.label for r in result} <= set(labels_from_config(read_model_config(model)))
    assert [r.score for r in result] == sorted((r.score for r in result), reverse=True)
    assert len(client.text_classification(ABSTRACT)) == 5  # the server's default top_k
    assert hub_requests and all(url.startswith(server.url) for url in hub_requests)


def test_one_list_per_input_sorted_by_score(server):
    response = httpx.post(
        server.url + "/", json={"inputs": [ABSTRACT, "A router forwards packets.", XSS], "parameters": {"top_k": 4}}
    )
    assert response.status_code == 200
    answer = response.json()
    assert len(answer) == 3 and all(len(row) == 4 for row in answer)
    for row in answer:
        assert set(row[0]) == {"label", "score"}
        assert [r["score"] for r in row] == sorted((r["score"] for r in row), reverse=True)


@pytest.mark.parametrize(
    "name, body, status",
    [
        ("empty", json.dumps({"inputs": ""}), 422),
        ("whitespace", json.dumps({"inputs": " \n\t "}), 422),
        ("1 MB of text", json.dumps({"inputs": "patent " * 150_000}), 413),
        ("binary", bytes(range(256)) * 64, 400),
        ("control characters", json.dumps({"inputs": "\x00\x01\x02 text"}), 422),
        ("not JSON", "inputs=some text", 400),
        ("wrong shape", json.dumps(["just", "a", "list"]), 422),
    ],
)
def test_bad_input_gets_a_4xx_with_a_message_and_the_server_lives_on(server, name, body, status):
    response = httpx.post(server.url + "/", content=body, headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == status, name
    assert response.json()["error"].startswith("Bad request: ")
    assert httpx.get(server.url + "/health").status_code == 200


@pytest.mark.parametrize("text", ["a", "\u00b2", "\u4e2d", "zzzz qqqq"])
def test_texts_with_no_known_word_get_422_and_the_reason_not_the_prior(server, text):
    response = httpx.post(server.url + "/", json={"inputs": text}, timeout=30)
    assert response.status_code == 422 and "no known words" in response.json()["error"]
    assert httpx.post(server.url + "/", json={"inputs": f"{text} {ABSTRACT}"}, timeout=30).status_code == 200


def test_hub_client_surfaces_the_servers_message(server, hub_requests):
    from huggingface_hub import InferenceClient
    from huggingface_hub.errors import HfHubHTTPError

    with pytest.raises(HfHubHTTPError, match="the text is empty"):
        InferenceClient(model=server.url).text_classification("   ")


def test_concurrent_requests_are_batched(server):
    before = httpx.get(server.url + "/health").json()["batches"]

    def call(i: int) -> int:
        return httpx.post(server.url + "/", json={"inputs": f"{ABSTRACT} Variant {i}."}, timeout=60).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(call, range(48)))
    assert statuses == [200] * 48
    batches = httpx.get(server.url + "/health").json()["batches"] - before
    assert 1 <= batches < 48, f"{batches} model calls for 48 concurrent requests"


def test_cpc_client_over_the_server(server):
    client = CpcClient(server.url, kind="inference", timeout=30)
    first, empty = client.predict([ABSTRACT, "  "], top_k=3)
    assert 1 <= len(first.codes) <= 3 and {c.code[:4] for c in first.codes} == {s.code for s in first.subclasses}
    assert empty.reason == "empty text"
    assert client.health()
    with pytest.raises(InputError, match="binary"):
        client.predict("text \x00\x01\x02\x03")


def test_cpc_client_reports_a_stopped_server(model, tmp_path):
    process = start_cpc("serve", tmp_path, server_env(model, tmp_path), ready_path="/health")
    client = CpcClient(process.url, timeout=5, retries=1, backoff=0.05)
    assert client.predict(ABSTRACT)[0].codes
    stop_server(process)
    assert not group_alive(process.pid)
    with pytest.raises(BackendError, match="cannot connect"):
        client.predict(ABSTRACT)
