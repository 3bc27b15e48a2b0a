"""``cpc serve``: the Hugging Face Inference API text-classification contract over a ``CpcPredictor``.

``POST /`` with ``{"inputs": "text" | ["text", ...], "parameters": {"top_k": 5}}`` returns
``[[{"label": "G06N3/08", "score": 0.93}, ...], ...]``: one list per input, best first, with no threshold
(the API's meaning of top_k). So ``huggingface_hub.InferenceClient(model="http://host:port")`` works unchanged.
``GET /health`` (and ``HEAD``) says whether the model is loaded. Errors are ``{"error": "..."}`` with a 4xx
status (400 unreadable body, 404/405 unknown path or method, 413 too large, 422 unusable inputs, among them a
text with no word the model knows: ``"no known words: ..."``), the shape the Hub client reads; no body, however
malformed, gets a 5xx.

Concurrent requests are batched (``spaces.batcher.MicroBatcher``); long requests are split into model-sized
calls and interleaved with short ones. A request with ``"details": true`` is answered beside the batcher, in one
scoring of its texts (``CpcPredictor.predict_ranked``), one at a time per worker on a thread of its own. The model is loaded once, at start. Connections are bounded by
``spaces.timeouts`` (header and body deadlines, a header size cap, a connection cap that idle sockets cannot
exhaust); its log lines and uvicorn's are rate-limited (``spaces.limits``).
FastAPI is imported at the top: only ``cpc serve`` (and tests) import this module.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from cpc_dataset.errors import CpcError, InputError
from cpc_models.kinds.batch import TextBatch
from spaces.batcher import MicroBatcher
from spaces.formatting import check_text, details_to_api, ranked_to_api
from spaces.known import MESSAGE as NO_KNOWN_WORDS_MESSAGE
from spaces.known import known_words
from spaces.settings import ServingSettings, load_settings

log = logging.getLogger(__name__)

DETAILS_THREAD = "cpc-details"  # the thread that answers details requests
REQUEST_SCHEMA = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["inputs"],
                "properties": {
                    "inputs": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "top_k": {"type": "integer", "minimum": 1},
                            "details": {
                                "type": "boolean",
                                "description": "answer per text {ranked, prediction}: calibrated codes, "
                                "titles, CPC levels with back-off, similar patents, out-of-scope flag",
                            },
                        },
                    },
                },
            },
            "example": {"inputs": "A neural network is trained to classify images.", "parameters": {"top_k": 5}},
        }
    }
}


class RequestError(CpcError):
    """A request the server refuses; ``status`` is the HTTP status it answers with."""

    prefix = "Bad request"

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


def parse_request(body: bytes, settings: ServingSettings, n_labels: int) -> tuple[list[str], int, bool]:
    """Texts, top_k and whether ``inputs`` was a single string; RequestError for anything unusable."""
    try:
        payload = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise RequestError("the body is not UTF-8 text (binary data?): send JSON", 400) from None
    except json.JSONDecodeError as exc:
        raise RequestError(f"the body is not valid JSON ({exc.msg} at character {exc.pos})", 400) from None
    except RecursionError:
        raise RequestError("the body is nested too deeply to read", 400) from None
    except ValueError:  # an integer of more digits than Python converts (sys.get_int_max_str_digits), NaN, Infinity
        raise RequestError(
            "the body has a number that cannot be read (too many digits, NaN or Infinity)", 400
        ) from None
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise RequestError('expected a JSON object {"inputs": "text" or ["text", ...], "parameters": {...}}')
    inputs, single = payload["inputs"], isinstance(payload["inputs"], str)
    texts = [inputs] if single else inputs
    if not isinstance(texts, list) or not texts:
        raise RequestError('"inputs" must be a text or a non-empty list of texts')
    if len(texts) > settings.max_batch:
        raise RequestError(f'"inputs" has {len(texts)} texts; the limit is {settings.max_batch} per request', 413)
    for i, text in enumerate(texts):
        try:
            check_text(text, settings.max_chars)
        except InputError as exc:
            where = "" if single else f"inputs[{i}]: "
            status = 413 if isinstance(text, str) and len(text) > settings.max_chars else 422
            raise RequestError(where + str(exc).removeprefix(f"{InputError.prefix}: "), status) from None
    parameters = payload.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise RequestError('"parameters" must be an object')
    top_k = parameters.get("top_k")
    top_k = settings.default_top_k if top_k is None else top_k
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise RequestError('"parameters.top_k" must be a positive integer')
    return texts, min(top_k, n_labels), single


def wants_details(body: bytes) -> bool:
    """``parameters.details``: the evidence beside the Inference-API answer (off unless asked; the default shape stays)."""
    details = (json.loads(body.decode("utf-8")).get("parameters") or {}).get("details", False)
    if not isinstance(details, bool):
        raise RequestError('"parameters.details" must be true or false')
    return details


def _no_constant(name: str):
    """NaN and Infinity are not JSON: refuse them rather than let them reach a number check."""
    raise ValueError(f"{name} is not a JSON value")


def create_app(predictor, settings: ServingSettings | None = None):
    """The FastAPI app around a loaded predictor (nothing is loaded here)."""
    settings = settings or load_settings()

    def rank(texts: list[str], top_k: int) -> list:
        """The ranked codes of each text, or None for a text with no word the model knows (in the batcher's thread)."""
        texts = TextBatch(texts)  # one TF-IDF transform serves the known-words check and the scores
        known = known_words(predictor, texts)
        ranked = predictor.ranked(texts, top_k)
        return [row if k else None for row, k in zip(ranked, known)]

    def rank_with_details(texts: list[str], top_k: int) -> tuple[list, list]:
        """``rank``'s answer and the predictions (``parameters.details``), from one scoring of the texts."""
        texts = TextBatch(texts)
        known = known_words(predictor, texts)
        if not all(known):  # refused (422): nothing to score
            return [[] if k else None for k in known], []
        return predictor.predict_ranked(texts, top_k)

    batcher = MicroBatcher(
        rank,
        max_texts=settings.max_batch,
        wait_ms=settings.batch_wait_ms,
        max_chars=settings.model_chars,
        counter=multiprocessing.Value("q", 0),
    )  # shared by workers

    # details requests: one at a time per worker, on a thread of their own (never all of the event loop's default
    # threads, which the batcher's model calls use)
    details_pool: list[ThreadPoolExecutor] = []

    @asynccontextmanager
    async def lifespan(app):
        await batcher.start()
        details_pool.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix=DETAILS_THREAD))
        yield
        details_pool.pop().shutdown(wait=False, cancel_futures=True)
        await batcher.stop()

    app = FastAPI(title="CPC codes (Inference API)", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.batcher = batcher

    def error(message: str, status: int) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(HTTPException)
    async def http_error(_request, exc: HTTPException) -> JSONResponse:  # 404, 405 ... as JSON too
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.api_route("/health", methods=["GET", "HEAD"])
    async def health() -> dict:
        return {
            "status": "ok",
            "model": getattr(getattr(predictor, "model_dir", None), "name", ""),  # the folder's name, not its path
            "backend": getattr(predictor, "backend", ""),
            "labels": len(predictor.labels),
            "batches": batcher.batches,
        }

    @app.post("/", openapi_extra={"requestBody": REQUEST_SCHEMA})
    async def classify(request: Request):
        limit = settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            return error(f"the request body has {int(declared):,} bytes; the limit is {limit:,}", 413)
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    return error(f"the request body is over the limit of {limit:,} bytes", 413)
        except ClientDisconnect:
            client = request.client
            log.info(
                "client %s disconnected after %d bytes of its request body", client.host if client else "?", len(body)
            )
            return error("the client disconnected", 400)
        try:
            texts, top_k, single = parse_request(bytes(body), settings, len(predictor.labels))
        except RequestError as exc:
            return error(str(exc), exc.status)
        try:
            details = wants_details(bytes(body))
        except RequestError as exc:
            return error(str(exc), exc.status)
        try:
            if details:  # the ranked codes and the predictions from one scoring, beside the batcher
                import asyncio

                loop = asyncio.get_running_loop()
                ranked, predictions = await loop.run_in_executor(details_pool[0], rank_with_details, texts, top_k)
            else:
                ranked = await batcher.ranked(texts, top_k)
            unknown = [i for i, row in enumerate(ranked) if row is None]
            if unknown:
                where = "" if single else f"inputs[{unknown[0]}]: "
                return error(str(RequestError(where + NO_KNOWN_WORDS_MESSAGE)), 422)
        except Exception:  # noqa: BLE001 - logged (the batcher logs its own); the client gets a message, not a traceback
            if details:
                log.exception("the model failed on a request with details")
            return error("the model failed on this request (see the server log)", 500)
        if details:
            return details_to_api(ranked, predictions)
        return JSONResponse(ranked_to_api(ranked))  # plain lists and floats: no jsonable_encoder pass per request

    return app


def run_server(settings: ServingSettings | None = None) -> None:
    """Load the model once and serve it with uvicorn until interrupted."""
    import uvicorn

    from cpc_models import CpcPredictor
    from spaces.limits import allow_open_files, limit_log_rate
    from spaces.timeouts import deadline_protocol
    from spaces.workers import serve

    settings = settings or load_settings()
    predictor = CpcPredictor.from_pretrained(
        settings.model_dir, backend=settings.backend, revision=settings.model_revision
    )
    log.info("model %s loaded (%s backend, %d labels)", settings.model_dir, predictor.backend, len(predictor.labels))
    workers = max(1, settings.workers)
    limit_log_rate("uvicorn.error", "spaces.timeouts", "spaces.server")
    allow_open_files(settings.max_connections + 64)
    config = uvicorn.Config(
        create_app(predictor, settings),
        host=settings.serve_host,
        port=settings.serve_port,
        log_level="warning",
        access_log=False,
        backlog=2048,  # uvicorn's default: connections waiting to be accepted are not open ones
        http=deadline_protocol(
            settings.header_timeout, settings.body_timeout, settings.max_header_bytes, settings.max_connections
        ),
        # connections are capped by the protocol (idle ones make room), so uvicorn's cap, which counts connections
        # (closing ones too) and requests in flight, stays out of their way: it only bounds requests in flight
        limit_concurrency=2 * settings.max_connections,
        timeout_graceful_shutdown=5,
        timeout_keep_alive=settings.keep_alive,
    )
    log.info("serving on http://%s:%d with %d worker(s)", settings.serve_host, settings.serve_port, workers)
    if serve(config, workers):
        raise SystemExit(1)
