"""The Hugging Face Inference Endpoints custom handler: ``cpc serve``'s request and answer, without a server.

A model folder's ``handler.py`` (written by ``cpc_models.endpoint``) subclasses ``CpcEndpointHandler``; the Endpoint
calls it with the request's JSON as a dict, ``{"inputs": "text" | ["text", ...], "parameters": {...}}``, and answers
with what it returns, or ``{"error": message}`` (status 400) for what it raises. The request is checked by
``spaces.server.parse_request`` and the answer shaped by ``spaces.formatting``: the same limits (``CPC_MAX_CHARS``,
``CPC_MAX_BATCH``), messages and JSON as ``cpc serve``. One parameter more: ``threshold`` (a number in [0, 1]) answers
the codes decided at that threshold (the best code is always kept), at most ``top_k``, instead of the ``top_k`` best.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from cpc_models.kinds.batch import TextBatch
from spaces.formatting import details_to_api, ranked_to_api
from spaces.known import MESSAGE as NO_KNOWN_WORDS_MESSAGE
from spaces.known import known_words
from spaces.server import RequestError, parse_request, wants_details
from spaces.settings import load_settings

log = logging.getLogger(__name__)


class CpcEndpointHandler:
    def __init__(self, path: str = ""):
        from cpc_models import CpcPredictor

        self.settings = load_settings(needs_model=False)  # limits and backend from CPC_* variables, as cpc serve
        self.predictor = CpcPredictor.from_pretrained(Path(path or "."), backend=self.settings.backend)
        log.info("model %s loaded (%s backend)", path, self.predictor.backend)

    def __call__(self, data: dict) -> list:
        """The answer to one request; ``RequestError`` (a one-line message) for a request it cannot answer."""
        body = request_body(data)
        texts, top_k, single = parse_request(body, self.settings, len(self.predictor.labels))
        texts = TextBatch(texts)  # one TF-IDF transform serves the known-words check and the scores
        unknown = [i for i, known in enumerate(known_words(self.predictor, texts)) if not known]
        if unknown:  # as cpc serve answers (422)
            raise RequestError(("" if single else f"inputs[{unknown[0]}]: ") + NO_KNOWN_WORDS_MESSAGE)
        details = wants_details(body)
        threshold = read_threshold(data)
        if threshold is not None:  # the codes over it are the answer
            predictions = self.predictor.predict(texts, top_k, threshold)
            ranked = [p.codes for p in predictions]
        elif details:  # the ranked codes and the predictions from one scoring
            ranked, predictions = self.predictor.predict_ranked(texts, top_k)
        else:
            ranked, predictions = self.predictor.ranked(texts, top_k), None
        if details:
            return details_to_api(ranked, predictions)
        return ranked_to_api(ranked)


def request_body(data: object) -> bytes:
    """The request as the JSON body ``cpc serve`` would have read (the Endpoint hands over the parsed dict)."""
    try:
        return json.dumps(data, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError):
        raise RequestError(
            'expected JSON: {"inputs": "text" or ["text", ...], "parameters": {...}} (got binary or non-JSON data)'
        ) from None


def read_threshold(data: dict) -> float | None:
    threshold = (data.get("parameters") or {}).get("threshold")
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise RequestError('"parameters.threshold" must be a number from 0 to 1')
    return float(threshold)
