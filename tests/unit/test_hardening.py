"""Issue 13, in-process: CSV injection, secrets in URLs, malformed bodies, crash-safe batch output, bind addresses,
client disconnects, server paths and leftovers in the Space, texts with nothing to classify, big requests split."""

from __future__ import annotations

import asyncio
import csv
import logging
import os
import time

import pytest

from cpc_dataset.errors import InputError
from cpc_models.predict.corpus import CorpusJob, predict_corpus
from spaces import settings as serving_settings
from spaces.batcher import MicroBatcher
from spaces.client import CpcClient
from spaces.settings import load_settings
from tests.fixtures.processes import free_port
from tests.unit.test_serving import TEXT, api, predictor, settings  # noqa: F401 - fixtures

pytest.importorskip("httpx")

FORMULAS = ['=HYPERLINK("http://x.invalid","y")', "=cmd|' /C calc'!A0", "+1+2", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


# -- 1. formula injection ---------------------------------------------------------------------------------


def predict_csv(predictor, source, out, batch_size: int = 256, **options) -> int:
    """One CSV through the batch engine with a loaded predictor; returns the rows written."""
    job = CorpusJob(str(source), str(out), str(predictor.model_dir), batch_size=batch_size, **options)
    return predict_corpus(job, predictor=predictor).rows


def test_batch_output_neutralises_formulas(predictor, tmp_path):
    source = tmp_path / "in.csv"
    with source.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "title", "abstract"])
        for i, formula in enumerate(FORMULAS):
            writer.writerow([formula, formula, f"{formula} a neural network classifies images {i}"])
    out = tmp_path / "out.csv"
    assert predict_csv(predictor, source, out, batch_size=3) == len(FORMULAS)
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(FORMULAS)
    for row, formula in zip(rows, FORMULAS):
        assert row["id"] == "'" + formula and row["title"] == "'" + formula  # OWASP: a leading quote
        assert row["abstract"].startswith("'" + formula)
    cells = [cell for row in rows for cell in row.values()]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]


# -- 2. secrets in URLs ------------------------------------------------------------------------------------


def test_mask_url_hides_passwords_tokens_and_queries():
    mask_url = serving_settings.mask_url
    assert mask_url("http://user:s3cret@host:8000/x") == "http://user:***@host:8000/x"
    assert mask_url("https://hf_TOKEN@host") == "https://***@host"
    assert mask_url("https://host/p?token=abc") == "https://host/p?***"
    assert mask_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000"


def test_webapp_never_shows_or_logs_the_backend_secret(settings, caplog):
    pytest.importorskip("flask")
    from spaces.webapp import create_app

    url = f"http://user:TOPSECRET@127.0.0.1:{free_port()}/?api_key=TOPSECRET"
    client = CpcClient(url, timeout=2, retries=1, backoff=0.01)
    app = create_app(client, settings).test_client()
    with caplog.at_level(logging.DEBUG):
        page = app.post("/", data={"text": TEXT})
        footer = app.get("/").get_data(as_text=True)
        health = app.get("/health").get_data(as_text=True)
    assert page.status_code == 503
    for shown in (page.get_data(as_text=True), footer, health, caplog.text, repr(client)):
        assert "TOPSECRET" not in shown
    assert "user:***@127.0.0.1" in footer and "retrying" in caplog.text


# -- 3. malformed bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, status",
    [
        ("[" * 2000 + "]" * 2000, 400),
        ('{"inputs": ' + "[" * 5000 + "]" * 5000 + "}", 400),
        ('{"inputs": "text", "parameters": {"top_k": ' + "9" * 4301 + "}}", 400),
        ('{"inputs": "text", "parameters": {"top_k": ' + "9" * 4000 + "}}", 200),
        ('{"inputs": "text", "parameters": {"top_k": 1e999}}', 422),
        ('{"inputs": "text", "parameters": {"top_k": NaN}}', 400),
    ],
)
def test_malformed_bodies_get_a_4xx_json_error(api, body, status):
    response = api.post("/", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    if status != 200:
        assert set(response.json()) == {"error"}


def test_unknown_paths_and_methods_get_json_errors_and_head_health_works(api, predictor, tmp_path):
    missing = api.get("/nowhere")
    assert missing.status_code == 404 and "error" in missing.json()
    wrong = api.put("/")
    assert wrong.status_code == 405 and "error" in wrong.json()
    assert api.head("/health").status_code == 200
    predictor.model_dir = tmp_path / "models" / "cpc-default"
    assert api.get("/health").json()["model"] == "cpc-default"  # the model folder's name, never a server path


def test_api_errors_are_not_html_escaped(api):
    answer = api.post("/", json={"text": "x"}).json()["error"]
    assert '"inputs"' in answer and "&#" not in answer and "&quot;" not in answer


# -- 8. nothing to classify --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["😀🚀🎉", "\u200b\u200c\u200d", "!!! ??? ...", "— • ·"])
def test_texts_without_a_word_character_are_refused(api, text):
    response = api.post("/", json={"inputs": text})
    assert response.status_code == 422 and "word" in response.json()["error"]


def test_the_batch_output_marks_rows_without_words(predictor, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("abstract\n😀🚀\nA neural network.\n", encoding="utf-8")
    predict_csv(predictor, source, tmp_path / "out.csv")
    with (tmp_path / "out.csv").open(newline="", encoding="utf-8") as f:
        emoji, words = list(csv.DictReader(f))
    assert emoji["codes"] == "" and "word" in emoji["reason"] and words["codes"]


# -- 6. a client that disconnects mid-body: one INFO line ----------------------------------------------------


def test_a_client_disconnect_is_one_info_line(predictor, settings, caplog):
    pytest.importorskip("fastapi")
    from spaces.server import create_app

    app = create_app(predictor, settings)
    messages = iter(
        [{"type": "http.request", "body": b'{"inputs": "a neur', "more_body": True}, {"type": "http.disconnect"}]
    )
    sent = []

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")],
    }
    with caplog.at_level(logging.DEBUG):
        asyncio.run(app(scope, receive, send))
    records = [r for r in caplog.records if "disconnect" in r.getMessage()]
    assert len(records) == 1 and records[0].levelno == logging.INFO
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


# -- 4. crash-safe, resumable batch output ------------------------------------------------------------------


class CrashAfter:
    """A predictor that dies (like a SIGKILL mid-run) after ``calls`` model calls."""

    def __init__(self, predictor, calls: int):
        self.predictor, self.calls, self.texts = predictor, calls, 0
        self.model_dir = predictor.model_dir

    def predict(self, texts, **kwargs):
        if self.calls == 0:
            raise KeyboardInterrupt
        self.calls -= 1
        self.texts += len(texts)
        return self.predictor.predict(texts, **kwargs)


def _abstracts(path, n: int):
    path.write_text("abstract\n" + "".join(f"A neural network number {i} classifies images.\n" for i in range(n)))
    return path


def test_batch_output_appears_only_when_complete_and_resumes(predictor, tmp_path):
    source, out = _abstracts(tmp_path / "in.csv", 10), tmp_path / "out.csv"
    with pytest.raises(KeyboardInterrupt):
        predict_csv(CrashAfter(predictor, 2), source, out, batch_size=3)
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))  # no partial file, under any name
    with pytest.raises(InputError, match="--resume"):
        predict_csv(predictor, source, out, batch_size=3)
    resumed = CrashAfter(predictor, 100)
    assert predict_csv(resumed, source, out, batch_size=3, resume=True) == 10
    assert resumed.texts == 10  # one file is one shard: resumed from its start
    clean = tmp_path / "clean.csv"
    predict_csv(predictor, source, clean, batch_size=3)
    assert out.read_bytes() == clean.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "clean.csv",
        "in.csv",
        "out.csv",
    ]


def test_batch_output_refuses_to_overwrite_unless_asked(predictor, tmp_path):
    source, out = _abstracts(tmp_path / "in.csv", 2), tmp_path / "out.csv"
    out.write_text("precious\n")
    with pytest.raises(InputError, match="--overwrite"):
        predict_csv(predictor, source, out)
    assert out.read_text() == "precious\n"
    assert predict_csv(predictor, source, out, overwrite=True) == 2
    assert out.read_text().startswith('"abstract","codes"')


def test_cli_predict_has_resume_and_overwrite(tmp_path):
    from click.testing import CliRunner

    from cpc_models.cli.predict import predict_command

    help_text = CliRunner().invoke(predict_command, ["--help"]).output
    assert "--resume" in help_text and "--overwrite" in help_text


# -- 5. one bind address per service --------------------------------------------------------------------------


def test_gradio_server_name_opens_only_the_space(monkeypatch):
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    settings = load_settings()
    assert (settings.space_host, settings.serve_host, settings.webapp_host) == ("0.0.0.0", "127.0.0.1", "127.0.0.1")
    monkeypatch.setenv("CPC_SERVE_HOST", "127.0.0.3")
    assert load_settings().serve_host == "127.0.0.3" and load_settings().webapp_host == "127.0.0.1"


def test_old_cpc_host_is_ignored_with_a_warning(monkeypatch, caplog):
    monkeypatch.setenv("CPC_HOST", "0.0.0.0")
    with caplog.at_level("WARNING", logger="spaces.settings"):
        settings = load_settings()
    assert (settings.space_host, settings.serve_host, settings.webapp_host) == ("127.0.0.1",) * 3
    assert "CPC_SERVE_HOST" in caplog.text


# -- 7. the Space: no server paths, no HTML entities, no leftovers; 8. its input checks ------------------------


def _space(predictor, settings, tmp_path):
    pytest.importorskip("gradio")
    from spaces.app import SpaceHandlers

    return SpaceHandlers(predictor, settings, work_dir=tmp_path / "work")


def test_space_batch_errors_carry_no_server_paths(predictor, settings, tmp_path):
    bad = tmp_path / "deep" / "secret-folder" / "upload.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text("title,text\nx,y\n")
    with pytest.raises(InputError) as error:
        _space(predictor, settings, tmp_path).predict_csv(str(bad))
    assert "secret-folder" not in str(error.value) and str(tmp_path) not in str(error.value)
    assert "upload.csv" in str(error.value) and "abstract" in str(error.value)


def test_space_batch_leaves_no_temporary_files(predictor, settings, tmp_path):
    work = tmp_path / "work"
    stale = work / "cpc-batch-old"
    stale.mkdir(parents=True)
    (stale / "x.csv").write_text("old")
    old = time.time() - 10 * 86400
    os.utime(stale / "x.csv", (old, old))
    os.utime(stale, (old, old))
    handlers = _space(predictor, settings, tmp_path)
    assert not stale.exists()  # stale ones go at start-up
    source = tmp_path / "in.csv"
    source.write_text("abstract\nA neural network.\n")
    out, _ = handlers.predict_csv(str(source))
    assert os.path.commonpath([out, work]) == str(work)  # written where gradio serves it from, not copied
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"abstract\nA neural network.\n" + b"\xff\xfe not UTF-8\n" * 3)
    before = sorted(work.iterdir())
    with pytest.raises(InputError):
        handlers.predict_csv(str(broken))
    assert sorted(work.iterdir()) == before  # a failed job leaves nothing behind


def _space_fn(predictor, settings, name):
    pytest.importorskip("gradio")
    from spaces.app import build_demo

    demo = build_demo(predictor, settings, examples=[])
    return next(fn.fn for fn in demo.fns.values() if fn.api_name == name)


@pytest.mark.parametrize(
    "text, top_k, threshold, words",
    [
        (12345, 5, 0, "text"),
        ({"a": "neural network"}, 5, 0, "text"),
        (TEXT, 5, float("nan"), "threshold"),
        (TEXT, "abc", 0, "top_k"),
        (TEXT, 5, 7, "threshold"),
        ("😀🚀", 5, 0, "word"),
    ],
)
def test_space_refuses_odd_inputs_with_a_message(predictor, settings, text, top_k, threshold, words):
    pytest.importorskip("gradio")
    import gradio as gr

    predict = _space_fn(predictor, settings, "predict_details")
    with pytest.raises(gr.Error) as error:
        predict(text, top_k, threshold)
    assert words in str(error.value.message)
    if top_k == 5 and threshold == 0:  # the text is what is wrong: /predict (abstract only) refuses it the same way
        with pytest.raises(gr.Error) as error:
            _space_fn(predictor, settings, "predict")(text)
        assert words in str(error.value.message)


def test_space_error_messages_are_not_html_escaped(predictor, settings):
    pytest.importorskip("gradio")
    import gradio as gr

    predict_file = _space_fn(predictor, settings, "predict_csv")
    with pytest.raises(gr.Error) as error:
        predict_file(None, 5, 0)
    assert "'abstract'" in error.value.message and "&#" not in error.value.message


def test_space_events_get_the_raw_values(predictor, settings):
    pytest.importorskip("gradio")
    from spaces.app import build_demo

    demo = build_demo(predictor, settings, examples=[])
    raw = {
        fn.api_name: fn.preprocess
        for fn in demo.fns.values()
        if fn.api_name in ("predict", "predict_details", "evidence", "predict_csv")
    }
    assert raw and not any(raw.values())  # gradio would turn 12345 or a dict into a string before our check


# -- 9. big requests are split into model-sized calls and interleaved -------------------------------------------


def test_a_big_request_does_not_hold_the_model_for_small_ones():
    calls: list[list[str]] = []

    def rank(texts, top_k):
        calls.append(list(texts))
        time.sleep(0.01)
        return [[t] for t in texts]

    async def scenario():
        batcher = MicroBatcher(rank, max_texts=32, wait_ms=1, max_chars=100)
        await batcher.start()
        big = asyncio.create_task(batcher.ranked([f"big{i:02d}" + "x" * 45 for i in range(8)], 1))

        async def big_started() -> None:
            while not calls:
                await asyncio.sleep(0.001)

        await asyncio.wait_for(big_started(), timeout=10)  # the big request holds the model before the small one comes
        small = await batcher.ranked(["small"], 1)
        small_done = len(calls)
        answer = await big
        await batcher.stop()
        return small, small_done, answer

    small, small_done, answer = asyncio.run(scenario())
    assert small == [["small"]]
    assert all(sum(len(t) for t in call) <= 100 or len(call) == 1 for call in calls)
    assert small_done < len(calls)  # the small request was answered before the big one was done
    assert [row[0][:5] for row in answer] == [f"big{i:02d}" for i in range(8)]  # in order, all there


def test_space_batch_refuses_a_path_outside_the_uploads(predictor, settings, tmp_path):
    pytest.importorskip("gradio")
    import gradio as gr

    secret = tmp_path / "outside.csv"
    secret.write_text("abstract\nA neural network.\n")
    predict_file = _space_fn(predictor, settings, "predict_csv")
    for raw in ({"path": str(secret)}, str(secret), {"path": "/etc/passwd"}):
        with pytest.raises(gr.Error, match="upload the CSV file"):
            predict_file(raw, 5, 0)


def test_space_batch_output_neutralises_formulas(predictor, settings, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text('title,abstract\n"=HYPERLINK(""http://x.invalid"")",@SUM(A1) a neural network\n')
    out, _ = _space(predictor, settings, tmp_path).predict_csv(str(source))
    with open(out, newline="") as f:
        [row] = list(csv.DictReader(f))
    assert row["title"] == '\'=HYPERLINK("http://x.invalid")' and row["abstract"] == "'@SUM(A1) a neural network"
