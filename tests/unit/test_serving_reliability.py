"""Issue 19, in-process: texts with no known word (422, the Space, the web app), a malformed backend reply (502),
rate-limited log lines."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from cpc_dataset.errors import InputError
from cpc_models.predict.predictor import CpcPredictor
from cpc_models.scoring.thresholds import Thresholds
from spaces.known import NO_KNOWN_WORDS, known_words
from spaces.limits import RateLimitFilter
from tests.unit.test_serving import TEXT, HashScorer, settings  # noqa: F401 - fixtures

GIBBERISH = "zzzz qqqq"


class VocabularyScorer(HashScorer):
    """Knows every word but ``zzzz``, ``qqqq`` and ``中`` (the ``known(texts)`` a TF-IDF scorer has)."""

    def known(self, texts):
        return [any(w not in ("zzzz", "qqqq", "中") for w in t.split()) for t in texts]


@pytest.fixture
def predictor():
    return CpcPredictor(VocabularyScorer(), Thresholds(0.5, mode="global"))


@pytest.fixture
def api(predictor, settings):  # noqa: F811
    from fastapi.testclient import TestClient

    from spaces.server import create_app

    with TestClient(create_app(predictor, settings)) as client:
        yield client


def test_known_words_asks_the_scorer(predictor):
    assert known_words(predictor, [TEXT, GIBBERISH, "中"]) == [True, False, False]


@pytest.mark.parametrize("body, where", [({"inputs": GIBBERISH}, ""), ({"inputs": [TEXT, "中", TEXT]}, "inputs[1]: ")])
def test_the_server_answers_422_with_the_reason(api, body, where):
    response = api.post("/", json=body)
    assert response.status_code == 422
    assert response.json()["error"].startswith(f"Bad request: {where}{NO_KNOWN_WORDS}")
    assert api.post("/", json={"inputs": [TEXT, TEXT]}).status_code == 200


@pytest.mark.parametrize("method", ["ranked", "predict", "evidence"])
def test_the_space_refuses_with_the_reason(predictor, settings, tmp_path, method):  # noqa: F811
    from spaces.app import SpaceHandlers

    handlers = SpaceHandlers(predictor, settings, work_dir=tmp_path)
    with pytest.raises(InputError, match=NO_KNOWN_WORDS):
        getattr(handlers, method)(GIBBERISH)


def _webapp(settings, reply: httpx.Response):  # noqa: F811
    from spaces.client import CpcClient
    from spaces.webapp import create_app

    client = CpcClient("http://backend.invalid", retries=0)
    client._client = httpx.Client(transport=httpx.MockTransport(lambda request: reply))
    return create_app(client=client, settings=settings).test_client()


def test_the_web_app_shows_the_reason(settings):  # noqa: F811
    reply = httpx.Response(422, json={"error": f"Bad request: {NO_KNOWN_WORDS}: the model knows none of the words"})
    page = _webapp(settings, reply).post("/", data={"text": GIBBERISH})
    assert page.status_code == 422 and f"Bad input: {NO_KNOWN_WORDS}" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(200, text="<html>a proxy's page</html>"),
        httpx.Response(200, json={"not": "a list"}),
        httpx.Response(200, json=[["G06N3/08"]]),
        httpx.Response(200, json=[[{"label": "G06N3/08", "score": "high"}]]),
        httpx.Response(200, json=[{"ranked": 7}]),
    ],
)
def test_a_malformed_backend_reply_is_a_502_page(settings, reply, caplog):  # noqa: F811
    with caplog.at_level(logging.WARNING):
        page = _webapp(settings, reply).post("/", data={"text": TEXT})
    assert page.status_code == 502 and "Bad backend reply" in page.get_data(as_text=True)
    assert len(caplog.records) == 1 and not caplog.records[0].exc_info


def test_log_lines_are_rate_limited():
    clock = [0.0]
    rate = RateLimitFilter(interval=10, burst=3, clock=lambda: clock[0])
    logger = logging.getLogger("tests.rate-limited")
    records = [logger.makeRecord(logger.name, logging.WARNING, "f", 1, "Exceeded %s", ("limit",), None)] * 1000
    passed = [rate.filter(r) for r in records]
    assert passed.count(True) == 3
    other = logger.makeRecord(logger.name, logging.WARNING, "f", 1, "another message", (), None)
    assert rate.filter(other)  # each kind of message has its own allowance
    clock[0] = 10.5
    record = logger.makeRecord(logger.name, logging.WARNING, "f", 1, "Exceeded %s", ("limit",), None)
    assert rate.filter(record) and "997 more" in record.getMessage()


def test_a_bad_space_upload_payload_is_one_log_line(predictor, settings, capfd, caplog):  # noqa: F811
    import gradio as gr
    from fastapi.testclient import TestClient

    from spaces.app import build_demo, quiet_bad_payloads

    quiet_bad_payloads()
    demo = build_demo(predictor, settings, examples=[])
    demo.queue()
    with TestClient(gr.routes.App.create_app(demo)) as client, caplog.at_level(logging.WARNING):
        capfd.readouterr()
        for payload in ("notafile", [1, 2], {"path": 12}):
            answer = client.post("/gradio_api/run/predict_csv", json={"data": [payload, 5, 0]})
            assert answer.status_code >= 400
    assert "Traceback" not in capfd.readouterr().err
    assert len([r for r in caplog.records if "refused an API payload" in r.getMessage()]) == 3


def test_the_server_vectorizes_a_request_once(monkeypatch):
    """The known-words check and the scores share one TF-IDF transform per batch (they were two)."""
    from fastapi.testclient import TestClient

    from cpc_models.kinds.vectorizer import Vectorizer
    from cpc_models.settings import default_model_dir
    from spaces.server import create_app
    from spaces.settings import load_settings

    calls = []
    real = Vectorizer.transform
    monkeypatch.setattr(Vectorizer, "transform", lambda self, texts: calls.append(len(texts)) or real(self, texts))
    model = CpcPredictor.from_pretrained(default_model_dir())
    with TestClient(create_app(model, load_settings(needs_model=False))) as client:
        answer = client.post("/", json={"inputs": [TEXT, "A second abstract about neural networks."]})
    assert answer.status_code == 200 and calls == [2]


def test_the_endpoint_handler_vectorizes_a_request_once_with_a_threshold_and_details(monkeypatch):
    """The known-words check, the codes at a threshold and the details share one TF-IDF transform (the predictor
    keeps the rows of the batch it is given; it made them again, and the handler predicted twice)."""
    from cpc_models.kinds.vectorizer import Vectorizer
    from cpc_models.settings import default_model_dir
    from spaces.endpoint import CpcEndpointHandler

    handler = CpcEndpointHandler(str(default_model_dir()))
    calls = []
    real = Vectorizer.transform
    monkeypatch.setattr(Vectorizer, "transform", lambda self, texts: calls.append(len(texts)) or real(self, texts))
    answer = handler({"inputs": [TEXT, "Neural networks."], "parameters": {"threshold": 0.2, "details": True}})
    assert len(answer) == 2 and calls == [2]


@pytest.mark.parametrize("where", ["server", "endpoint"])
def test_a_details_request_scores_its_texts_once(monkeypatch, where):
    """``details`` answers the ranked codes and the predictions: from one scoring of the texts (the kNN search
    included), not one for ``ranked`` and another for ``predict``; the answer is theirs."""
    from cpc_models.settings import default_model_dir
    from spaces.formatting import details_to_api

    model = CpcPredictor.from_pretrained(default_model_dir())
    texts = [TEXT, "A lithium battery electrode coating for electric vehicles."]
    expected = details_to_api(model.ranked(texts, 3), model.predict(texts, 3))
    calls = []
    real = CpcPredictor.scores
    monkeypatch.setattr(CpcPredictor, "scores", lambda self, t: calls.append(len(t)) or real(self, t))
    request = {"inputs": texts, "parameters": {"top_k": 3, "details": True}}
    if where == "server":
        from fastapi.testclient import TestClient

        from spaces.server import create_app
        from spaces.settings import load_settings

        with TestClient(create_app(model, load_settings(needs_model=False))) as client:
            answer = client.post("/", json=request).json()
    else:
        from spaces.endpoint import CpcEndpointHandler

        handler = CpcEndpointHandler(str(default_model_dir()))
        answer = handler(request)
    assert calls == [2] and json.loads(json.dumps(answer)) == json.loads(json.dumps(expected))


def test_details_requests_run_on_their_own_thread_not_the_batchers_pool(monkeypatch):
    """A details request is scored beside the micro-batcher on the server's one details thread, so a burst of them
    cannot take the event loop's default threads that the batcher's model calls run on."""
    import threading

    from fastapi.testclient import TestClient

    from cpc_models.settings import default_model_dir
    from spaces.server import DETAILS_THREAD, create_app
    from spaces.settings import load_settings

    model = CpcPredictor.from_pretrained(default_model_dir())
    threads = []
    real = CpcPredictor.predict_ranked
    monkeypatch.setattr(
        CpcPredictor,
        "predict_ranked",
        lambda self, *a, **k: threads.append(threading.current_thread().name) or real(self, *a, **k),
    )
    with TestClient(create_app(model, load_settings(needs_model=False))) as client:
        for _ in range(2):
            answer = client.post("/", json={"inputs": TEXT, "parameters": {"details": True}})
            assert answer.status_code == 200 and answer.json()[0]["prediction"]["codes"]
        plain = client.post("/", json={"inputs": TEXT})
    assert plain.status_code == 200 and len(threads) == 2
    assert all(name.startswith(DETAILS_THREAD) for name in threads), threads


def test_predict_on_a_batch_whose_tf_idf_rows_are_made_lines_them_up_with_the_texts_it_keeps():
    """Empty texts and texts with no known words between known ones: the kept texts' cached TF-IDF rows are their
    own (``TextBatch.take``), so the codes, levels and similar patents are those of a plain list of the texts."""
    from cpc_models.kinds.batch import TextBatch
    from cpc_models.settings import default_model_dir

    model = CpcPredictor.from_pretrained(default_model_dir())
    texts = ["", "zzqxv qqzzk", TEXT, "   ", "zzqxv", "A lithium battery electrode coating for electric vehicles."]
    batch = TextBatch(texts)
    assert known_words(model, batch) == [False, False, True, False, False, True]  # the rows are made here
    given, plain = model.predict(batch, 3, explain=True), model.predict(list(texts), 3, explain=True)
    assert [p.reason for p in given] == ["empty text", NO_KNOWN_WORDS, "", "empty text", NO_KNOWN_WORDS, ""]
    assert given == plain and given[2].codes != given[5].codes


def test_predict_refuses_a_negative_top_k_in_one_line():
    """``top_k`` below 0 is refused (it silently dropped codes); 0 and None give every decided code."""
    from cpc_models.settings import default_model_dir

    model = CpcPredictor.from_pretrained(default_model_dir())
    with pytest.raises(InputError, match="top_k -1"):
        model.predict(TEXT, top_k=-1)
    every = model.predict(TEXT, threshold=0.05)[0].codes
    assert len(every) > 1 and model.predict(TEXT, top_k=0, threshold=0.05)[0].codes == every
    assert model.predict(TEXT, top_k=1, threshold=0.05)[0].codes == every[:1]


@pytest.mark.parametrize("top_k", [None, 0, 2])
def test_predict_ranked_is_ranked_and_predict_for_every_top_k(predictor, top_k):
    """``predict_ranked(texts, top_k)`` is ``ranked`` and ``predict`` of the same ``top_k``; ``None`` (every code)
    was taken for "no ranked lists asked", so every text's list came back None."""
    texts = [TEXT, "", GIBBERISH, "Another abstract about neural networks."]
    ranked, predictions = predictor.predict_ranked(texts, top_k)
    assert predictions == predictor.predict(texts, top_k)
    assert ranked == [predictor.ranked([TEXT], top_k)[0], None, None, predictor.ranked([texts[3]], top_k)[0]]


@pytest.mark.parametrize("where, details", [("scores", False), ("scores", True), ("_add_evidence", True)])
def test_a_model_failure_is_a_500_message_and_one_logged_traceback(api, monkeypatch, caplog, details, where):
    """Scoring or the evidence failing: the client gets one line (no traceback) and the log has the traceback once,
    with or without ``details`` (the batcher logs its own calls; a details request is scored beside it)."""

    def fail(*args, **kwargs):
        raise RuntimeError("model broke")

    monkeypatch.setattr(CpcPredictor, where, fail)
    with caplog.at_level(logging.ERROR):
        response = api.post("/", json={"inputs": [TEXT], "parameters": {"details": details}})
    assert response.status_code == 500 and response.json() == {
        "error": "the model failed on this request (see the server log)"
    }
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 1 and "model broke" in str(logged[0].exc_info[1])


def test_a_details_request_with_a_text_of_no_known_words_is_a_422(api):
    response = api.post("/", json={"inputs": [TEXT, "中", TEXT], "parameters": {"details": True}})
    assert response.status_code == 422
    assert response.json()["error"].startswith(f"Bad request: inputs[1]: {NO_KNOWN_WORDS}")
