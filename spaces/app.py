"""The Gradio Space: ``build_demo(predictor)`` builds the app; ``main()`` loads the model once and launches it.

Importing this module loads nothing heavy and launches nothing: gradio is imported inside ``build_demo``,
the model and the examples are read in ``main()``. ``python spaces/app.py`` (what a Space runs) and
``cpc space`` both call ``main()``.

Endpoints for ``gradio_client``:

- ``/predict``: ``abstract`` -> one ``gr.Label`` value, the 5 best-scored codes
  (``{"label": code, "confidences": [{"label": code, "confidence": score}, ...]}``): the original Space's contract,
  so ``Client(space).predict(abstract=text, api_name="/predict")`` works unchanged;
- ``/predict_details``: ``abstract``, ``top_k``, ``threshold`` -> the decided codes (label), the table by CPC level
  and a note (what the Predict button shows);
- ``/evidence`` (abstract, top_k, threshold -> HTML: terms highlighted, CPC level tree, similar patents, scope note);
- ``/predict_csv`` (file, top_k, threshold -> predictions CSV, note);
- ``/correct`` (abstract, top_k, threshold, corrected codes, publication number -> note), only where
  ``CPC_FEEDBACK_DIR`` is set: the "Correct these codes" control saves the text, the predicted codes and the
  corrected codes to that feedback dataset folder (``cpc_dataset.feedback``; ``cpc learn --data`` reads it).
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

if __package__ in (
    None,
    "",
):  # run as a script: the pushed Space has the packages beside app.py, a checkout one level up
    _HERE = Path(__file__).resolve().parent
    sys.path.insert(0, str(_HERE if (_HERE / "cpc_models").is_dir() else _HERE.parent))

from cpc_dataset.errors import CpcError, InputError  # noqa: E402
from cpc_dataset.titles import read_label_titles  # noqa: E402
from spaces.formatting import (  # noqa: E402
    MAX_TOP_K,
    TABLE_HEADERS,
    check_text,
    code_table,
    error_message,
    label_codes,
    label_value,
    read_examples,
)
from spaces.inputs import check_threshold, check_top_k, uploaded_path, without_paths  # noqa: E402
from spaces.known import require_known_words  # noqa: E402
from spaces.settings import ServingSettings, load_settings  # noqa: E402

log = logging.getLogger(__name__)

LABEL_TOP_K = 5  # codes in the /predict label, as in the original Space
TITLE = "CPC codes for patent abstracts"
INTRO = (
    "Paste a patent abstract (title first if you have one) to get its Cooperative Patent Classification "
    "codes. Threshold 0 uses the thresholds tuned for each code on the validation split."
)


class SpaceHandlers:
    """The functions behind the Space's events: plain Python, testable without a browser.

    Batch results are written under ``work_dir`` (gradio's cache folder in the Space, so gradio serves them
    without a second copy); a failed job removes its folder at once, finished ones go after
    ``settings.batch_keep_s`` seconds (checked at start-up and at every job).
    """

    def __init__(
        self,
        predictor,
        settings: ServingSettings,
        titles: dict[str, str] | None = None,
        work_dir: str | Path | None = None,
    ):
        self.predictor = predictor
        self.settings = settings
        self.titles = titles or {}  # code -> CPC title, from the dataset's labels.json when the scraper saved them
        self.work_dir = Path(work_dir) if work_dir else Path(tempfile.gettempdir()) / "cpc-batch"
        self.remove_stale()

    def ranked(self, text: str, top_k: int = LABEL_TOP_K) -> dict[str, float]:
        """The ``top_k`` best-scored codes, no threshold, as a ``gr.Label`` value (the ``/predict`` contract)."""
        text = require_known_words(self.predictor, check_text(text, self.settings.max_chars))
        return label_value(self.predictor.ranked([text], top_k=top_k)[0])

    def predict(self, text: str, top_k: float = 5, threshold: float = 0.0) -> tuple[dict, list[list], str]:
        """Codes for one text: ``gr.Label`` value, the code table, a note. Raises InputError for bad input."""
        text = require_known_words(self.predictor, check_text(text, self.settings.max_chars))
        top_k, threshold = check_top_k(top_k), check_threshold(threshold)
        prediction = self.predictor.predict([text], top_k=top_k or None, threshold=threshold or None)[0]
        if prediction.reason:
            raise InputError(prediction.reason)
        note = "The text was cut to the model's maximum length." if prediction.truncated else ""
        return label_value(prediction.codes), code_table(prediction.codes, self.titles), note

    def evidence(self, text: str, top_k: float = 5, threshold: float = 0.0) -> str:
        """HTML behind one text's codes: scope, back-off, terms highlighted, level tree, similar patents."""
        from spaces.evidence_view import evidence_html

        text = require_known_words(self.predictor, check_text(text, self.settings.max_chars))
        top_k, threshold = check_top_k(top_k), check_threshold(threshold)
        prediction = self.predictor.predict([text], top_k=top_k or None, threshold=threshold or None, explain=True)[0]
        if prediction.reason:
            raise InputError(prediction.reason)
        prediction.titles = {
            **self.titles,
            **prediction.titles,
        }  # the Space's dataset may know titles the model folder does not
        return evidence_html(text, prediction)

    def correct(
        self, text: str, top_k: float = 5, threshold: float = 0.0, corrected: str = "", publication_number: str = ""
    ) -> str:
        """Save one correction (the text, the codes the model decides for it, the corrected codes) to the feedback
        folder; returns a note. Raises InputError when corrections are off or the input is bad."""
        from cpc_dataset.feedback import FeedbackRow, parse_codes, write_feedback
        from cpc_dataset.hub import is_repo_id

        if self.settings.feedback_dir is None:
            raise InputError("corrections are not saved on this Space (CPC_FEEDBACK_DIR is not set)")
        text = check_text(text, self.settings.max_chars)
        codes = parse_codes(corrected if isinstance(corrected, str) else "")
        if not codes:
            raise InputError("type the right codes first, e.g. G06N3/08, G06N20/00")
        number = str(publication_number or "").strip()[:40]
        top_k, threshold = check_top_k(top_k), check_threshold(threshold)
        prediction = self.predictor.predict([text], top_k=top_k or None, threshold=threshold or None)[0]
        model = str(self.settings.model_dir)
        model = model if is_repo_id(model) else Path(model).name  # the repo id, or only the folder's name
        row = FeedbackRow(text, [c.code for c in prediction.codes], codes, model, number)
        write_feedback(self.settings.feedback_dir, row)
        return f"Correction saved ({len(codes)} codes). `cpc learn --data <feedback folder>` adds it to a model."

    def predict_csv(self, path: str | None, top_k: float = 5, threshold: float = 0.0) -> tuple[str, str]:
        """Predictions for an uploaded CSV (column ``abstract``, optional ``title``): output path and a note."""
        from cpc_models.predict.corpus import predict_corpus
        from cpc_models.predict.job import CorpusJob

        if not path:
            raise InputError("upload a CSV file with a column named 'abstract' (and optionally 'title')")
        top_k, threshold = check_top_k(top_k), check_threshold(threshold)
        size = Path(path).stat().st_size
        if size > self.settings.max_upload_mb * 2**20:
            raise InputError(f"the file has {size / 2**20:.1f} MB; the limit is {self.settings.max_upload_mb} MB")
        self.remove_stale()
        job = self.work_dir / f"cpc-batch-{uuid.uuid4().hex}"
        job.mkdir(parents=True)
        out = job / f"{Path(path).stem}-cpc.csv"
        try:
            job_spec = CorpusJob(
                str(path),
                str(out),
                str(self.predictor.model_dir),
                top_k=top_k or None,
                threshold=threshold or None,
                progress=False,
            )
            rows = predict_corpus(job_spec, predictor=self.predictor).rows
        except BaseException as exc:
            shutil.rmtree(job, ignore_errors=True)
            if isinstance(exc, CpcError):  # what the user reads names the file, never a folder of this server
                raise type(exc)(without_paths(str(exc).removeprefix(f"{exc.prefix}: "))) from None
            raise
        return str(out), f"{rows} rows classified."

    def remove_stale(self) -> None:
        """Remove batch folders older than ``settings.batch_keep_s`` (a crashed run's, or results long fetched)."""
        cutoff = time.time() - self.settings.batch_keep_s
        for folder in self.work_dir.glob("cpc-batch-*") if self.work_dir.is_dir() else ():
            try:
                if folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                pass


def build_demo(predictor, settings: ServingSettings | None = None, examples: list[str] | None = None):
    """The Space as a ``gr.Blocks`` app around a loaded ``CpcPredictor``.

    ``examples`` default to abstracts of the dataset's test split (none if the dataset folder is absent).
    """
    import gradio as gr

    settings = settings or load_settings()
    uploads = Path(gr.utils.get_upload_folder())
    handlers = SpaceHandlers(
        predictor, settings, read_label_titles(settings.dataset_dir), work_dir=uploads / "cpc-batch"
    )
    if examples is None:
        examples = read_examples(settings.dataset_dir, settings.examples)

    def predict(abstract: str) -> dict:
        try:
            return handlers.ranked(abstract, LABEL_TOP_K)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message, never a crash
            raise gr.Error(error_message(exc), print_exception=not isinstance(exc, CpcError)) from None

    def predict_details(abstract, top_k, threshold):
        try:
            return handlers.predict(abstract, top_k, threshold)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message, never a crash
            # plain text: gradio sanitizes the HTML of error messages itself, and API clients read it as is
            raise gr.Error(error_message(exc), print_exception=not isinstance(exc, CpcError)) from None

    def evidence(abstract, top_k, threshold):
        try:
            return handlers.evidence(abstract, top_k, threshold)
        except Exception as exc:  # noqa: BLE001
            raise gr.Error(error_message(exc), print_exception=not isinstance(exc, CpcError)) from None

    def correct(abstract, top_k, threshold, corrected, number):
        try:
            return handlers.correct(abstract, top_k, threshold, corrected, number)
        except Exception as exc:  # noqa: BLE001
            raise gr.Error(error_message(exc), print_exception=not isinstance(exc, CpcError)) from None

    def predict_file(file, top_k, threshold):
        try:
            return handlers.predict_csv(uploaded_path(file, uploads), top_k, threshold)
        except Exception as exc:  # noqa: BLE001
            raise gr.Error(error_message(exc), print_exception=not isinstance(exc, CpcError)) from None

    def correction_control():
        with gr.Accordion("Correct these codes", open=False, elem_id="correct"):
            gr.Markdown(
                "Wrong codes? Type the right ones and save: the text, the predicted codes and your codes are "
                "stored on this server to improve the model (`cpc learn`). Nothing else is stored."
            )
            corrected = gr.Textbox(label="Correct codes", elem_id="corrected-codes", placeholder="G06N3/08, G06N20/00")
            number = gr.Textbox(label="Publication number (optional)", elem_id="correction-number")
            save = gr.Button("Save correction", elem_id="save-correction")
            correction_note = gr.Markdown(elem_id="correction-note")
        return corrected, number, save, correction_note

    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(600, settings.batch_keep_s)) as demo:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        with gr.Tab("Abstract"):
            with gr.Row():
                with gr.Column(scale=3):
                    text = gr.Textbox(
                        label="Abstract",
                        lines=8,
                        max_lines=20,
                        elem_id="abstract",
                        placeholder="A method for training a neural network ...",
                    )
                    with gr.Row():
                        top_k = gr.Slider(
                            1, MAX_TOP_K, value=settings.default_top_k, step=1, label="Top-k codes", elem_id="top-k"
                        )
                        threshold = gr.Slider(
                            0, 1, value=0, step=0.01, label="Threshold (0 = tuned)", elem_id="threshold"
                        )
                    button = gr.Button("Predict", variant="primary", elem_id="predict")
                with gr.Column(scale=2):
                    label = gr.Label(label="CPC codes", elem_id="codes")
                    note = gr.Markdown(elem_id="note")
                    correction = correction_control() if settings.feedback_dir is not None else None
            table = gr.Dataframe(
                headers=TABLE_HEADERS + (["title"] if handlers.titles else []),
                label="Codes by level",
                interactive=False,
                elem_id="code-table",
            )
            if examples:
                gr.Examples([[e] for e in examples], inputs=[text], label="Abstracts from the test split")
            evidence_panel = gr.HTML(elem_id="evidence")
            # preprocess=False: the handlers check the raw values (gradio would make 12345 or a dict a string)
            events = dict(
                fn=predict_details, inputs=[text, top_k, threshold], outputs=[label, table, note], preprocess=False
            )
            why = dict(fn=evidence, inputs=[text, top_k, threshold], outputs=[evidence_panel], preprocess=False)
            clicked = button.click(**events, api_name="predict_details").success(**why, api_name="evidence")
            text.submit(**events, api_visibility="private").success(**why, api_visibility="private")
            if correction is not None:
                corrected, number, save, correction_note = correction
                clicked.success(
                    lambda value: ", ".join(label_codes(value)), [label], [corrected], api_visibility="private"
                )
                save.click(
                    correct,
                    [text, top_k, threshold, corrected, number],
                    [correction_note],
                    api_name="correct",
                    preprocess=False,
                )
            # The original Space's API: abstract -> one gr.Label (top 5). An API-only event on the same components.
            ranked_label = gr.Label(num_top_classes=LABEL_TOP_K, visible=False)
            gr.Button(visible=False).click(
                predict, inputs=[text], outputs=[ranked_label], api_name="predict", preprocess=False
            )
        with gr.Tab("Batch (CSV)"):
            gr.Markdown(
                "Upload a CSV with a column `abstract` (and optionally `title`); download it back with codes. "
                "Cells starting with `=`, `+`, `-` or `@` come back with a leading `'` so spreadsheets show them as text."
            )
            upload = gr.File(label="CSV to classify", file_types=[".csv"], elem_id="upload")
            with gr.Row():
                batch_top_k = gr.Slider(1, MAX_TOP_K, value=settings.default_top_k, step=1, label="Top-k codes")
                batch_threshold = gr.Slider(0, 1, value=0, step=0.01, label="Threshold (0 = tuned)")
            batch_button = gr.Button("Classify the file", variant="primary", elem_id="predict-csv")
            download = gr.File(label="Predictions (CSV)", elem_id="download")
            batch_note = gr.Markdown(elem_id="batch-note")
            batch_button.click(
                predict_file,
                [upload, batch_top_k, batch_threshold],
                [download, batch_note],
                api_name="predict_csv",
                preprocess=False,
            )
    demo.queue(default_concurrency_limit=settings.concurrency, max_size=settings.concurrency * 64)
    return demo


def quiet_bad_payloads() -> None:
    """One log line, not gradio's 1.4 KB traceback, for an API payload that gradio's data model refuses.

    gradio validates an event's inputs (a ``FileData`` for the CSV upload) before our handlers run and prints the
    traceback of any exception that is not a ``gr.Error``. Its modules that print them get a ``traceback`` whose
    ``print_exc`` logs a pydantic ``ValidationError`` (a malformed payload) or gradio's ``InvalidPathError`` (a
    path on the server instead of an upload) as one WARNING line and prints every other exception in full.
    """
    import traceback
    import types

    import gradio.queueing
    import gradio.routes
    from gradio.exceptions import InvalidPathError
    from pydantic import ValidationError

    def print_exc(*args, **kwargs) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ValidationError, InvalidPathError)):
            log.warning("refused an API payload: %s", (str(error).splitlines() or [""])[0][:300])
        else:
            traceback.print_exc(*args, **kwargs)

    shim = types.SimpleNamespace(**{n: getattr(traceback, n) for n in dir(traceback) if not n.startswith("_")})
    shim.print_exc = print_exc
    for module in (gradio.queueing, gradio.routes):
        if getattr(module, "traceback", None) is traceback:
            module.traceback = shim


def launch(demo, settings: ServingSettings, **kwargs):
    """Serve ``demo`` on the configured host and port (blocks unless ``prevent_thread_lock=True``)."""
    quiet_bad_payloads()
    return demo.launch(
        server_name=settings.space_host,
        server_port=settings.space_port,
        max_file_size=f"{settings.max_upload_mb}mb",
        footer_links=["api"],
        ssr_mode=False,
        **kwargs,
    )


def main(settings: ServingSettings | None = None) -> None:
    """Load the model once, read the examples, build the Space and serve it."""
    from cpc_dataset.hub import is_repo_id, resolve_dataset
    from cpc_models import CpcPredictor

    settings = settings or load_settings()
    if is_repo_id(settings.dataset_dir):
        settings.dataset_dir = resolve_dataset(str(settings.dataset_dir))
    predictor = CpcPredictor.from_pretrained(
        settings.model_dir, backend=settings.backend, revision=settings.model_revision
    )
    log.info("model %s loaded (%s backend, %d labels)", settings.model_dir, predictor.backend, len(predictor.labels))
    launch(build_demo(predictor, settings), settings)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        main()
    except CpcError as exc:
        sys.exit(str(exc))
