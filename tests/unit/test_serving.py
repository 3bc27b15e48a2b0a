"""Serving without processes: input checks, result shapes, the micro-batcher, and the three apps in-process."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from cpc_dataset.errors import InputError
from cpc_models.predict.predictor import CodeScore, CpcPredictor
from cpc_models.scoring.thresholds import Thresholds
from spaces.batcher import MicroBatcher
from spaces.client import BackendError, CpcClient
from spaces.formatting import check_text, code_levels, code_table, label_value, ranked_to_api, read_examples
from spaces.settings import ServingSettings, load_settings
from tests.fixtures.processes import free_port

pytest.importorskip("httpx")

LABELS = ["G06N3/08", "G06N3/045", "G06F40/30", "H04L9/40", "A61B5/7267"]
TEXT = "A neural network is trained on labelled images and then classifies new images."


class HashScorer:
    """Deterministic scores from a hash of the text: no model, same answer every time."""

    labels = LABELS
    backend = "native"

    def __init__(self):
        self.calls: list[int] = []

    def truncated(self, texts):
        return [False] * len(texts)

    def predict_proba(self, texts):
        self.calls.append(len(texts))
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[: len(LABELS)], dtype=np.uint8) / 255 for t in texts]
        return np.asarray(rows, dtype=np.float32)


@pytest.fixture
def predictor() -> CpcPredictor:
    return CpcPredictor(HashScorer(), Thresholds(0.5, mode="global"))


@pytest.fixture
def settings(tmp_path) -> ServingSettings:
    return ServingSettings(
        model_dir=tmp_path / "model", dataset_dir=tmp_path / "no-dataset", max_chars=2000, max_batch=4
    )


# -- input checks and shapes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, words",
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("x" * 2001, "limit is 2,000"),
        ("abc\x00def", "binary"),
        ("\x01\x02\x03\x04 text", "binary"),
        (b"bytes", "binary"),
        (None, "expected a text"),
        (["a list"], "expected a text"),
    ],
)
def test_check_text_refuses_with_a_message(bad, words):
    with pytest.raises(InputError, match=words):
        check_text(bad, 2000)


@pytest.mark.parametrize("good", [TEXT, "<script>alert(1)</script>", "Ünïcödé — “quotes”\ttab\nnew line", "x" * 2000])
def test_check_text_accepts_text(good):
    assert check_text(good, 2000) == good


def test_code_levels_and_table():
    assert code_levels("G06N3/08") == ("G", "G06", "G06N")
    assert code_levels("not a code") == ("", "", "")
    codes = [CodeScore("G06N3/08", 0.91), CodeScore("H04L9/40", 0.42)]
    assert label_value(codes) == {"G06N3/08": 0.91, "H04L9/40": 0.42}
    assert code_table(codes) == [["G06N3/08", 0.91, "G", "G06", "G06N"], ["H04L9/40", 0.42, "H", "H04", "H04L"]]
    assert ranked_to_api([codes]) == [[{"label": "G06N3/08", "score": 0.91}, {"label": "H04L9/40", "score": 0.42}]]


def test_examples_fall_back_to_none_without_a_dataset(tmp_path):
    assert read_examples(tmp_path / "absent", 5) == []


def test_settings_come_from_the_environment_then_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("CPC_MODEL", str(tmp_path / "m"))
    monkeypatch.setenv("CPC_SERVE_PORT", "9123")
    monkeypatch.setenv("CPC_BACKEND_KIND", "space")
    settings = load_settings(serve_port=None, serve_host="127.0.0.2")
    assert (settings.model_dir, settings.serve_port, settings.backend_kind, settings.serve_host) == (
        tmp_path / "m",
        9123,
        "space",
        "127.0.0.2",
    )


def test_importing_the_space_loads_nothing_heavy():
    code = "import sys, spaces.app, spaces.client, spaces.webapp, spaces.cli; print(sorted(m for m in ('gradio', 'flask', 'fastapi', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- the micro-batcher ----------------------------------------------------------------------------------


def test_micro_batcher_serves_concurrent_requests_in_one_call(predictor):
    async def scenario():
        batcher = MicroBatcher(predictor.ranked, max_texts=8, wait_ms=50)
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.ranked([f"{TEXT} {i}"], top_k=1 + i % 3) for i in range(6)))
        finally:
            await batcher.stop()

    results = asyncio.run(scenario())
    assert predictor.scorer.calls == [6]
    assert [len(r[0]) for r in results] == [1, 2, 3, 1, 2, 3]
    assert results[0] == predictor.ranked([f"{TEXT} 0"], top_k=1)


def test_micro_batcher_passes_model_errors_to_the_waiting_requests():
    def broken(texts, top_k):
        raise RuntimeError("model exploded")

    async def scenario():
        batcher = MicroBatcher(broken, wait_ms=1)
        await batcher.start()
        try:
            with pytest.raises(RuntimeError, match="exploded"):
                await batcher.ranked(["text"], 3)
            with pytest.raises(RuntimeError):  # the worker is still alive
                await batcher.ranked(["text"], 3)
        finally:
            await batcher.stop()

    asyncio.run(scenario())


# -- the Inference-API server, in-process -----------------------------------------------------------------


@pytest.fixture
def api(predictor, settings):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from spaces.server import create_app

    with TestClient(create_app(predictor, settings)) as client:
        yield client


def test_server_follows_the_inference_api_contract(api, predictor):
    one = api.post("/", json={"inputs": TEXT, "parameters": {"top_k": 3}})
    assert one.status_code == 200
    [ranked] = one.json()
    assert [r["label"] for r in ranked] == [c.code for c in predictor.ranked([TEXT], 3)[0]]
    assert [r["score"] for r in ranked] == sorted((r["score"] for r in ranked), reverse=True)
    many = api.post("/", json={"inputs": [TEXT, "Another abstract about routers."]}).json()
    assert len(many) == 2 and all(len(r) == 5 for r in many)
    assert api.get("/health").json()["labels"] == len(LABELS)


@pytest.mark.parametrize(
    "body, status, words",
    [
        (json.dumps({"inputs": ""}), 422, "empty"),
        (json.dumps({"inputs": "   "}), 422, "empty"),
        (json.dumps({"inputs": [TEXT, " "]}), 422, r"inputs\[1\]"),
        (json.dumps({"inputs": []}), 422, "non-empty list"),
        (json.dumps({"inputs": "x" * 2001}), 413, "limit is 2,000"),
        (json.dumps({"inputs": [TEXT] * 5}), 413, "limit is 4"),
        (json.dumps({"inputs": TEXT, "parameters": {"top_k": 0}}), 422, "top_k"),
        (json.dumps({"text": TEXT}), 422, "inputs"),
        (json.dumps({"inputs": "a\x00b"}), 422, "binary"),
        ("not json", 400, "not valid JSON"),
        (b"\xff\xfe\x00\x81binary", 400, "not UTF-8"),
    ],
)
def test_server_refuses_bad_input_with_a_message(api, body, status, words):
    response = api.post("/", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert re.search(words, response.json()["error"])


def test_server_refuses_a_body_over_the_limit_before_reading_it(api, settings):
    response = api.post("/", content=b"x" * (settings.max_body_bytes + 1), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "limit" in response.json()["error"]


# -- the Space's handlers and app, in-process ---------------------------------------------------------------


def test_space_handlers_predict_and_refuse(predictor, settings, tmp_path):
    pytest.importorskip("gradio")
    from spaces.app import SpaceHandlers

    handlers = SpaceHandlers(predictor, settings, work_dir=tmp_path / "work")
    label, table, note = handlers.predict(TEXT, top_k=2, threshold=0.0)
    assert list(label) == [row[0] for row in table] and len(table) <= 2 and note == ""
    for bad in ("", "   ", "x" * 5000, "\x00\x01"):
        with pytest.raises(InputError):
            handlers.predict(bad)
        with pytest.raises(InputError):
            handlers.ranked(bad)
    ranked = handlers.ranked(TEXT, 5)  # the /predict contract: the 5 best scores, no threshold
    assert list(ranked.items()) == [(c.code, c.score) for c in predictor.ranked([TEXT], 5)[0]]
    csv = tmp_path / "in.csv"
    csv.write_text("title,abstract\nNets,A neural network.\nEmpty,\n")
    out, message = handlers.predict_csv(str(csv), top_k=3)
    assert message == "2 rows classified." and open(out).readline().startswith('"title","abstract","codes",')
    with pytest.raises(InputError, match="upload"):
        handlers.predict_csv(None)


def test_build_demo_has_named_api_endpoints_and_a_queue(predictor, settings):
    pytest.importorskip("gradio")
    import dataclasses

    from spaces.app import build_demo

    settings = dataclasses.replace(settings, concurrency=3)  # not gradio's default (1) nor ours (2)
    demo = build_demo(predictor, settings, examples=["An example abstract."])
    names = {fn.api_name for fn in demo.fns.values()}
    assert {"predict", "predict_details", "predict_csv"} <= names
    endpoints = demo.get_api_info()["named_endpoints"]
    assert [p["parameter_name"] for p in endpoints["/predict"]["parameters"]] == ["abstract"]  # the original's keyword
    assert [r["component"] for r in endpoints["/predict"]["returns"]] == ["Label"]
    # the queue runs CPC_CONCURRENCY predictions at once and holds a bounded backlog
    assert (demo._queue.default_concurrency_limit, demo._queue.max_size) == (3, 3 * 64)


# -- the client and the web app, in-process ----------------------------------------------------------------


def test_client_says_clearly_when_the_backend_is_down():
    client = CpcClient(f"http://127.0.0.1:{free_port()}", timeout=2, retries=1, backoff=0.01)
    start = time.monotonic()
    with pytest.raises(BackendError, match="cannot connect"):
        client.predict(TEXT)
    assert time.monotonic() - start < 10
    assert client.predict(["", "  "])[1].reason == "empty text"  # no call for empty texts
    assert not client.health()
    with pytest.raises(InputError, match="unknown backend kind"):
        CpcClient("http://127.0.0.1:1", kind="grpc")


class FakeClient:
    url, kind = "http://backend.invalid", "inference"

    def __init__(self, predictor):
        self.predictor = predictor

    def predict(self, texts, top_k=None, threshold=None):
        return self.predictor.predict(texts, top_k=top_k)


@pytest.fixture
def webapp(predictor, settings):
    pytest.importorskip("flask")
    from spaces.webapp import create_app

    return create_app(FakeClient(predictor), settings).test_client()


def test_webapp_shows_codes_as_bars(webapp):
    page = webapp.post("/", data={"text": TEXT, "top_k": "3"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count('class="code-row"') >= 1 and 'class="bar" style="width:' in html


@pytest.mark.parametrize(
    "payload", ["<script>alert('xss')</script>", '"><img src=x onerror=alert(1)>', "{{ 7*7 }} </textarea><b>bold</b>"]
)
def test_webapp_escapes_every_output(webapp, payload):
    html = webapp.post("/", data={"text": payload}).get_data(as_text=True)
    assert payload not in html
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold</b>" not in html
    assert "49" not in html.split("<textarea", 1)[1].split("</textarea>", 1)[0]  # no template evaluation


@pytest.mark.parametrize("text, status", [("", 422), ("   ", 422), ("a\x00b\x01c", 422), ("x" * 2001, 422)])
def test_webapp_bad_input_gives_a_message(webapp, text, status):
    page = webapp.post("/", data={"text": text})
    assert page.status_code == status and 'id="error"' in page.get_data(as_text=True)


def test_webapp_refuses_a_huge_form_with_a_message(webapp):
    page = webapp.post("/", data={"text": "x" * 1_000_000})
    assert page.status_code == 413 and "too long" in page.get_data(as_text=True)


def test_webapp_reports_a_backend_that_is_down(settings):
    pytest.importorskip("flask")
    from spaces.webapp import create_app

    down = CpcClient(f"http://127.0.0.1:{free_port()}", timeout=2, retries=0)
    page = create_app(down, settings).test_client().post("/", data={"text": TEXT})
    assert page.status_code == 503 and "Backend unavailable" in page.get_data(as_text=True)
