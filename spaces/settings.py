"""Settings of the Space, the Inference-API server and the web app: the only module here that reads env vars.

Defaults live on the dataclass; environment variables override them; command-line options override both
(``dataclasses.replace`` in ``spaces.cli``).

=====================  =============================================  ==========================
variable               what                                           default
=====================  =============================================  ==========================
CPC_MODEL              model folder                                   hub/models/cpc-default
CPC_BACKEND            predictor backend (auto, onnx, torch, native)  auto
CPC_DATASET            dataset folder (examples from its test split)  hub/datasets/patent-cpc-ai
CPC_HOST               address to bind (a Space sets                   127.0.0.1
                       GRADIO_SERVER_NAME=0.0.0.0, also read)
CPC_PORT               Space port (or GRADIO_SERVER_PORT)             7860
CPC_SERVE_PORT         Inference-API server port                      8000
CPC_WEBAPP_PORT        web app port                                   5000
CPC_BACKEND_URL        what the web app calls                         http://127.0.0.1:8000
CPC_BACKEND_KIND       "inference" (cpc serve) or "space" (gradio)    inference
CPC_MAX_CHARS          longest text accepted                          20000
CPC_MAX_BATCH          most texts per request / micro-batch           32
CPC_CONCURRENCY        Space queue: events run at once                2
CPC_TIMEOUT            client timeout, seconds                        30
=====================  =============================================  ==========================
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cpc_models.settings import DATASET_DIR, default_model_dir

BACKEND_KINDS = ("inference", "space")


def _env(name: str, default: str, *fallbacks: str) -> str:
    for key in (name, *fallbacks):
        value = os.environ.get(key)
        if value:
            return value
    return default


@dataclass
class ServingSettings:
    model_dir: Path = field(default_factory=default_model_dir)
    backend: str = field(default_factory=lambda: _env("CPC_BACKEND", "auto"))
    dataset_dir: Path = field(default_factory=lambda: Path(_env("CPC_DATASET", str(DATASET_DIR))))
    host: str = field(default_factory=lambda: _env("CPC_HOST", "127.0.0.1", "GRADIO_SERVER_NAME"))
    space_port: int = field(default_factory=lambda: int(_env("CPC_PORT", "7860", "GRADIO_SERVER_PORT")))
    serve_port: int = field(default_factory=lambda: int(_env("CPC_SERVE_PORT", "8000")))
    webapp_port: int = field(default_factory=lambda: int(_env("CPC_WEBAPP_PORT", "5000")))
    backend_url: str = field(default_factory=lambda: _env("CPC_BACKEND_URL", "http://127.0.0.1:8000"))
    backend_kind: str = field(default_factory=lambda: _env("CPC_BACKEND_KIND", "inference"))
    max_chars: int = field(default_factory=lambda: int(_env("CPC_MAX_CHARS", "20000")))
    max_batch: int = field(default_factory=lambda: int(_env("CPC_MAX_BATCH", "32")))
    concurrency: int = field(default_factory=lambda: int(_env("CPC_CONCURRENCY", "2")))
    timeout: float = field(default_factory=lambda: float(_env("CPC_TIMEOUT", "30")))
    examples: int = 5  # test-split abstracts shown as examples in the Space
    max_upload_mb: int = 5  # batch tab: largest CSV accepted
    batch_wait_ms: float = 5.0  # server micro-batcher: how long the first request waits for company
    default_top_k: int = 5

    @property
    def max_body_bytes(self) -> int:
        """Largest request body the server reads: a full batch of the longest texts, JSON-escaped."""
        return self.max_batch * self.max_chars * 6 + 4096


def load_settings(**overrides) -> ServingSettings:
    """Settings from the environment, with ``overrides`` (the CLI's options; None means not given) on top."""
    settings = ServingSettings()
    for key, value in overrides.items():
        if value is not None:
            setattr(settings, key, Path(value) if key in ("model_dir", "dataset_dir") else value)
    return settings
