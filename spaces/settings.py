"""Settings of the Space, the Inference-API server and the web app: the only module here that reads env vars.

Defaults live on the dataclass; environment variables override them; command-line options override both
(``dataclasses.replace`` in ``spaces.cli``).

=====================  =============================================  ==========================
variable               what                                           default
=====================  =============================================  ==========================
CPC_MODEL_ID           Hub model repo id (a pushed Space's model;     cpc_space.json's model_id
                       wins over CPC_MODEL)
CPC_MODEL              model folder or Hub repo id                    hub/models/cpc-default
CPC_MODEL_REVISION     branch, tag or commit of a Hub model           main
CPC_BACKEND            predictor backend (auto, onnx, torch, native)  auto
CPC_DATASET            dataset folder (examples from its test split)  hub/datasets/patent-cpc-ai
CPC_SPACE_HOST         address the Space binds (or                    127.0.0.1
                       GRADIO_SERVER_NAME, which a Space sets)
CPC_SERVE_HOST         address ``cpc serve`` binds                    127.0.0.1
CPC_WEBAPP_HOST        address ``cpc webapp`` binds                   127.0.0.1
CPC_PORT               Space port (or GRADIO_SERVER_PORT)             7860
CPC_SERVE_PORT         Inference-API server port                      8000
CPC_WEBAPP_PORT        web app port                                   5000
CPC_BACKEND_URL        what the web app calls                         http://127.0.0.1:8000
CPC_BACKEND_KIND       "inference" (cpc serve) or "space" (gradio)    inference
CPC_MAX_CHARS          longest text accepted                          20000
CPC_MAX_BATCH          most texts per request / micro-batch           32
CPC_CONCURRENCY        Space queue: events run at once                2
CPC_TIMEOUT            client timeout, seconds                        30
CPC_HEADER_TIMEOUT     serve/webapp: seconds to send request headers  10
CPC_BODY_TIMEOUT       serve: seconds to send the body after them     30
CPC_MAX_CONNECTIONS    serve/webapp: open connections at most         1000
CPC_WORKERS            serve: worker processes (forked after the      2 (1 on a one-core
                       model is loaded; see spaces/workers.py)        machine)
CPC_FEEDBACK_DIR       Space: folder where "Correct these codes"      unset: no control, nothing
                       saves corrections (cpc_dataset.feedback)       stored
=====================  =============================================  ==========================

Each service has its own bind address: ``GRADIO_SERVER_NAME=0.0.0.0`` (what a Space sets) opens the Space
only, never ``cpc serve`` or ``cpc webapp``. ``CPC_HOST`` (one address for all three) is no longer read.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from cpc_models.settings import default_dataset_dir, default_model_dir

BACKEND_KINDS = ("inference", "space")
# Written by `cpc push space` at the Space's root (beside app.py): which model repo the Space serves.
SPACE_CONFIG = Path(__file__).resolve().parents[1] / "cpc_space.json"

log = logging.getLogger(__name__)


def _env(name: str, default: str, *fallbacks: str) -> str:
    for key in (name, *fallbacks):
        value = os.environ.get(key)
        if value:
            return value
    return default


def _space_config() -> dict:
    try:
        return json.loads(SPACE_CONFIG.read_text()) if SPACE_CONFIG.exists() else {}
    except (OSError, json.JSONDecodeError):
        return {}


def _hub_model() -> Path | None:
    """CPC_MODEL_ID, else the pushed Space's model (cpc_space.json); None: CPC_MODEL or the default folder."""
    repo_id = os.environ.get("CPC_MODEL_ID") or _space_config().get("model_id")
    return Path(repo_id) if repo_id else None


@dataclass
class ServingSettings:
    # a folder or a Hub repo id (owner/name); None: cpc_models.settings.default_model_dir(), resolved by load_settings
    model_dir: Path | None = field(default_factory=lambda: _hub_model())
    model_revision: str | None = field(
        default_factory=lambda: os.environ.get("CPC_MODEL_REVISION") or _space_config().get("model_revision")
    )
    backend: str = field(default_factory=lambda: _env("CPC_BACKEND", "auto"))
    dataset_dir: Path = field(default_factory=default_dataset_dir)
    space_host: str = field(default_factory=lambda: _env("CPC_SPACE_HOST", "127.0.0.1", "GRADIO_SERVER_NAME"))
    serve_host: str = field(default_factory=lambda: _env("CPC_SERVE_HOST", "127.0.0.1"))
    webapp_host: str = field(default_factory=lambda: _env("CPC_WEBAPP_HOST", "127.0.0.1"))
    space_port: int = field(default_factory=lambda: int(_env("CPC_PORT", "7860", "GRADIO_SERVER_PORT")))
    serve_port: int = field(default_factory=lambda: int(_env("CPC_SERVE_PORT", "8000")))
    webapp_port: int = field(default_factory=lambda: int(_env("CPC_WEBAPP_PORT", "5000")))
    backend_url: str = field(default_factory=lambda: _env("CPC_BACKEND_URL", "http://127.0.0.1:8000"))
    backend_kind: str = field(default_factory=lambda: _env("CPC_BACKEND_KIND", "inference"))
    max_chars: int = field(default_factory=lambda: int(_env("CPC_MAX_CHARS", "20000")))
    max_batch: int = field(default_factory=lambda: int(_env("CPC_MAX_BATCH", "32")))
    concurrency: int = field(default_factory=lambda: int(_env("CPC_CONCURRENCY", "2")))
    timeout: float = field(default_factory=lambda: float(_env("CPC_TIMEOUT", "30")))
    header_timeout: float = field(default_factory=lambda: float(_env("CPC_HEADER_TIMEOUT", "10")))
    body_timeout: float = field(default_factory=lambda: float(_env("CPC_BODY_TIMEOUT", "30")))
    max_connections: int = field(default_factory=lambda: int(_env("CPC_MAX_CONNECTIONS", "1000")))
    workers: int = field(
        default_factory=lambda: int(_env("CPC_WORKERS", str(min(2, os.cpu_count() or 1))))
    )  # serve: processes forked after loading
    max_header_bytes: int = 65536  # serve: request line and headers together
    keep_alive: int = 5  # serve/webapp: seconds an idle kept-alive connection stays open
    model_chars: int = 40_000  # server: characters per model call; longer requests are split and interleaved
    examples: int = 5  # test-split abstracts shown as examples in the Space
    max_upload_mb: int = 5  # batch tab: largest CSV accepted
    batch_keep_s: int = 3600  # batch tab: seconds a result stays downloadable before it is removed
    batch_wait_ms: float = 5.0  # server micro-batcher: how long the first request waits for company
    default_top_k: int = 5
    # Space: where corrections are saved (a feedback dataset folder); None: the control is not shown, nothing is stored
    feedback_dir: Path | None = field(
        default_factory=lambda: Path(os.environ["CPC_FEEDBACK_DIR"]) if os.environ.get("CPC_FEEDBACK_DIR") else None
    )

    @property
    def max_body_bytes(self) -> int:
        """Largest request body the server reads: a full batch of the longest texts, JSON-escaped."""
        return self.max_batch * self.max_chars * 6 + 4096


def mask_url(url: str) -> str:
    """``url`` fit to show or log: the password (or token) of ``user:secret@`` and the query string masked."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unreadable URL>"
    if ":" in host:
        host = f"[{host}]"
    userinfo = ""
    if parts.username is not None or parts.password is not None:
        userinfo = "***@" if parts.password is None else f"{parts.username}:***@"
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, userinfo + host + port, parts.path, query, ""))


def load_settings(needs_model: bool = True, **overrides) -> ServingSettings:
    """Settings from the environment, with ``overrides`` (the CLI's options; None means not given) on top."""
    if os.environ.get("CPC_HOST"):
        log.warning(
            "CPC_HOST is no longer read: set CPC_SPACE_HOST, CPC_SERVE_HOST or CPC_WEBAPP_HOST (or --host) for the one service to open"
        )
    settings = ServingSettings()
    for key, value in overrides.items():
        if value is not None:
            setattr(settings, key, Path(value) if key in ("model_dir", "dataset_dir", "feedback_dir") else value)
    if settings.model_dir is None and needs_model:
        settings.model_dir = default_model_dir()
    return settings
