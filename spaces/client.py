"""``CpcClient``: ``predict()`` like ``CpcPredictor.predict``, over a running Space or Inference-API server.

- ``kind="inference"``: an Inference-API text-classification endpoint (``cpc serve``, or a Hub Inference
  Endpoint). Texts go in batches of ``batch_size`` per request, as ``{"inputs": [...], "parameters": {"top_k": k}}``.
  This is plain httpx rather than ``huggingface_hub.InferenceClient``, which sends one text per request and
  refuses every URL, even 127.0.0.1, when HF_HUB_OFFLINE=1 (the setting a served model usually runs with).
  The endpoint ranks codes with no threshold, so ``threshold`` filters the top-k here (the best code stays).
- ``kind="space"``: the Gradio Space (``cpc space``) through ``gradio_client`` and its ``/predict_details``
  endpoint; the Space applies the tuned thresholds (or ``threshold``) itself. (``/predict`` keeps the original
  Space's contract, ``abstract`` -> a ``gr.Label`` of the 5 best codes, for callers written against it.)

Connection failures, 5xx answers and time-outs are retried (``retries`` times, with back-off) and then
raised as ``BackendError``; input the backend refuses is raised as ``InputError`` with its message; an answer
that is not what the API promises (not JSON, the wrong shape) is raised at once as ``BadReplyError``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, TypeVar

from cpc_dataset.errors import CpcError, InputError
from cpc_models.predict.predictor import CodeScore, Prediction
from spaces.formatting import MAX_TOP_K
from spaces.settings import BACKEND_KINDS, ServingSettings, mask_url

log = logging.getLogger(__name__)
T = TypeVar("T")


class BackendError(CpcError):
    """The backend could not be reached or failed; retrying later may help."""

    prefix = "Backend unavailable"


class BadReplyError(BackendError):
    """The backend answered, but not with what its API promises (another service, a proxy's error page)."""

    prefix = "Bad backend reply"


class CpcClient:
    def __init__(
        self,
        url: str,
        kind: str = "inference",
        timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.5,
        token: str | None = None,
        batch_size: int = 16,
        details: bool = False,
    ):
        if kind not in BACKEND_KINDS:
            raise InputError(f"unknown backend kind {kind!r}; choose one of {', '.join(BACKEND_KINDS)}")
        self.url = url.rstrip("/")
        self.public_url = mask_url(self.url)  # what messages, logs and pages show: no password or token
        self.kind = kind
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.token = token  # for a Hub endpoint or a private Space
        self.batch_size = batch_size
        self.details = details  # inference kind: ask our server for parameters.details (scope flag, titles, neighbours)
        self._client = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: ServingSettings) -> CpcClient:
        return cls(
            settings.backend_url, settings.backend_kind, settings.timeout, details=settings.backend_kind == "inference"
        )

    def __repr__(self) -> str:
        return f"CpcClient({self.public_url!r}, kind={self.kind!r})"

    def predict(
        self, texts: list[str] | str, top_k: int | None = None, threshold: float | None = None
    ) -> list[Prediction]:
        """One ``Prediction`` per text, best codes first. Empty texts get an empty prediction with a reason."""
        if isinstance(texts, str):
            texts = [texts]
        results = [Prediction(reason="empty text") for _ in texts]
        keep = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
        if self.kind == "space":
            for i in keep:
                results[i] = self._with_retries(lambda: self._predict_space(texts[i], top_k, threshold))
            return results
        for start in range(0, len(keep), self.batch_size):
            chunk = keep[start : start + self.batch_size]
            ranked = self._with_retries(lambda: self._rank_inference([texts[i] for i in chunk], top_k or 5))
            for i, row in zip(chunk, ranked):
                try:
                    extra = (row.get("prediction") or {}) if isinstance(row, dict) else {}
                    row = row.get("ranked", []) if isinstance(row, dict) else row
                    codes = [CodeScore(str(item["label"]), round(float(item["score"]), 4)) for item in row]
                    if threshold is not None:
                        codes = [c for c in codes if c.score >= threshold] or codes[:1]
                    results[i] = _with_details(_prediction(codes), extra)
                except (TypeError, KeyError, ValueError, AttributeError) as exc:
                    raise BadReplyError(
                        f"{self.public_url} answered in an unexpected shape ({type(exc).__name__})"
                    ) from None
        return results

    def health(self) -> bool:
        """Whether the backend answers (``/health`` of the server; the config page of a Space)."""
        import httpx

        path = "/config" if self.kind == "space" else "/health"
        try:
            return httpx.get(self.url + path, timeout=min(self.timeout, 5.0)).status_code == 200
        except httpx.HTTPError:
            return False

    # -- the two backends -------------------------------------------------------------------------

    def _rank_inference(self, texts: list[str], top_k: int) -> list[list[dict]]:
        parameters = {"top_k": top_k, **({"details": True} if self.details else {})}
        response = self._http().post(self.url + "/", json={"inputs": texts, "parameters": parameters})
        response.raise_for_status()
        try:
            ranked = response.json()
        except ValueError:
            raise BadReplyError(f"{self.public_url} answered with something that is not JSON") from None
        if not isinstance(ranked, list) or len(ranked) != len(texts):
            raise BadReplyError(f"{self.public_url} is not a text-classification endpoint (unexpected answer)")
        return ranked

    def _predict_space(self, text: str, top_k: int | None, threshold: float | None) -> Prediction:
        label, _table, note = self._space().predict(
            text, min(top_k or MAX_TOP_K, MAX_TOP_K), threshold or 0.0, api_name="/predict_details"
        )
        confidences = (label or {}).get("confidences") or []
        codes = [CodeScore(c["label"], round(float(c["confidence"]), 4)) for c in confidences]
        return _prediction(codes, truncated=bool(note and "cut" in note))

    def _http(self):
        with self._lock:
            if self._client is None:
                import httpx

                headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
                self._client = httpx.Client(timeout=self.timeout, headers=headers)
            return self._client

    def _space(self):
        with self._lock:
            if self._client is None:
                from gradio_client import Client

                self._client = Client(
                    self.url,
                    token=self.token,
                    verbose=False,
                    analytics_enabled=False,
                    download_files=False,
                    httpx_kwargs={"timeout": self.timeout},
                )
            return self._client

    # -- errors and retries -----------------------------------------------------------------------

    def _with_retries(self, call: Callable[[], T]) -> T:
        for attempt in range(self.retries + 1):
            try:
                return call()
            except CpcError:
                raise
            except Exception as exc:  # noqa: BLE001 - sorted into our two error kinds below
                error = self._classify(exc)
                if isinstance(error, InputError) or attempt == self.retries:
                    raise error from exc
                log.warning("%s (attempt %d of %d); retrying", error, attempt + 1, self.retries + 1)
                with self._lock:
                    if self.kind == "space":
                        self._client = None  # reconnect: the Space may have restarted
                time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def _classify(self, exc: Exception) -> CpcError:
        """Our error for a library's exception: InputError for a 4xx / app error, BackendError otherwise."""
        import httpx

        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status is not None and 400 <= status < 500 and status not in (408, 429):
            return InputError(_server_message(exc) or f"the backend refused the request (HTTP {status})")
        if type(exc).__name__ == "AppError":  # gradio_client: the Space raised gr.Error
            return InputError(_strip_prefix(str(exc)))
        if isinstance(exc, (httpx.TimeoutException, TimeoutError)) or "Timeout" in type(exc).__name__:
            return BackendError(f"{self.public_url} did not answer within {self.timeout:g} s")
        if isinstance(exc, (httpx.ConnectError, ConnectionError)) or "Connect" in type(exc).__name__:
            return BackendError(
                f"cannot connect to {self.public_url}: is the {'Space' if self.kind == 'space' else 'server'} running?"
            )
        if status is not None:
            return BackendError(f"{self.public_url} answered HTTP {status}: {_server_message(exc) or 'server error'}")
        return BackendError(f"{self.public_url}: {type(exc).__name__}: {str(exc).replace(self.url, self.public_url)}")


def _prediction(codes: list[CodeScore], truncated: bool = False) -> Prediction:
    return Prediction(codes, _roll(codes, 4), _roll(codes, 1), truncated)


def _with_details(prediction: Prediction, extra: dict) -> Prediction:
    """The evidence fields our server sends with ``parameters.details`` (absent from other endpoints)."""
    if isinstance(extra, dict):
        prediction.out_of_scope = bool(extra.get("out_of_scope", False))
        prediction.scope_note = str(extra.get("scope_note", "") or "")
        prediction.calibrated = bool(extra.get("calibrated", False))
        prediction.titles = {str(k): str(v) for k, v in (extra.get("titles") or {}).items()}
        prediction.backoff = str(extra.get("backoff", "") or "")
        prediction.neighbours = [n for n in extra.get("neighbours") or [] if isinstance(n, dict)]
    return prediction


def _roll(codes: list[CodeScore], prefix: int) -> list[CodeScore]:
    best: dict[str, float] = {}
    for c in codes:
        best[c.code[:prefix]] = max(best.get(c.code[:prefix], 0.0), c.score)
    return [CodeScore(k, v) for k, v in sorted(best.items(), key=lambda kv: -kv[1])]


def _server_message(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    try:
        return _strip_prefix(str(response.json().get("error", "")))
    except Exception:  # noqa: BLE001 - not our server's JSON; no message then
        return ""


def _strip_prefix(message: str) -> str:
    for prefix in ("Bad request: ", "Bad input: "):
        message = message.removeprefix(prefix)
    return message.strip()
