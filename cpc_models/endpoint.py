"""``handler.py`` and ``requirements.txt`` in a model folder: what Hugging Face Inference Endpoints runs.

A repo that is not a transformers model (the TF-IDF ensemble, for one) is served by an Endpoint only through a custom
handler: ``handler.py`` with ``class EndpointHandler`` (``__init__(self, path="")``, ``__call__(self, data)``), and
the packages it imports in ``requirements.txt``. The handler written here is one template: it subclasses
``spaces.endpoint.CpcEndpointHandler`` (the same request checks and answer as ``cpc serve``), so the logic lives in
the package, is tested there, and ``requirements.txt`` installs it: ``patent-cpc[serve]`` at this version (plus the
extra the model's kind needs to load) and every library the package requires, pinned at the versions the folder was
written with. ``cpc train`` (``cpc_models.folder``), ``cpc export`` (the backend changes) and ``cpc push model``
(``cpc_models.hub``, always current in the repo) write them.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from cpc_models.files import HANDLER_FILE, REQUIREMENTS_FILE
from cpc_models.version import __version__

log = logging.getLogger(__name__)

DISTRIBUTION = "patent-cpc"

HANDLER_TEMPLATE = '''"""Hugging Face Inference Endpoints custom handler for this CPC model (written by patent-cpc {version}).

POST {{"inputs": "text" or ["text", ...], "parameters": {{"top_k": 5, "threshold": 0.3, "details": false}}}}
answers [[{{"label": "G06N3/08", "score": 0.93}}, ...], ...]: one list per input, best first, the JSON of `cpc serve`.
Without "threshold": the top_k best codes; with it: the codes decided at that threshold (at most top_k).
A bad request raises an error with a one-line message (the Endpoint answers {{"error": message}} with status 400).
requirements.txt installs what this file imports.
"""

from pathlib import Path

from spaces.endpoint import CpcEndpointHandler


class EndpointHandler(CpcEndpointHandler):
    def __init__(self, path: str = ""):
        super().__init__(path or str(Path(__file__).resolve().parent))
'''

CARD_SECTION = """## Inference Endpoints

This repo carries `handler.py` (a custom handler) and `requirements.txt` (`patent-cpc` and its libraries, pinned
at the versions the model was written with): deploy it as a Hugging Face Inference Endpoint (task "Custom").
The request and answer are those of `cpc serve`:

```bash
curl -s "$ENDPOINT_URL" -H "Authorization: Bearer $HF_TOKEN" -H "Content-Type: application/json" \\
  -d '{"inputs": ["A neural network is trained ..."], "parameters": {"top_k": 5}}'
# [[{"label": "G06N3/08", "score": 0.93}, ...]]
```
"""


def handler_text() -> str:
    return HANDLER_TEMPLATE.format(version=__version__)


def model_extras(model_dir: str | Path) -> list[str]:
    """The extras of ``patent-cpc`` the handler needs for this folder: ``serve``, plus the one its kind's automatic
    backend loads with (``cpc_models.registry``); ``[serve]`` has what the native TF-IDF kinds need."""
    from cpc_models.registry import get_kind, kind_of

    kind = get_kind(kind_of(model_dir))
    backend = kind.code().auto_backend(Path(model_dir)) if kind.auto_choice else next(iter(kind.backends))
    extra = kind.backends[backend].extra
    return ["serve"] if extra in ("serve", "space") else ["serve", extra]


def pinned_requirements(extras: list[str]) -> list[str]:
    """``name==version`` for every library ``patent-cpc`` (with ``extras``) requires, as installed here; none where
    the package's metadata is not installed (a source checkout) or a library is missing."""
    from importlib import metadata

    try:
        requires = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        log.warning("%s is not installed: %s lists only %s itself", DISTRIBUTION, REQUIREMENTS_FILE, DISTRIBUTION)
        return []
    pins = {}
    for line in requires:  # e.g. 'scikit-learn>=1.5; extra == "serve"' (setup.cfg's lines, markers: extras only)
        name = re.match(r"[A-Za-z0-9._-]+", line).group(0)
        extra = re.search(r"""extra\s*==\s*['"]([^'"]+)['"]""", line)
        if extra is not None and extra.group(1) not in extras:
            continue
        try:
            pins[name.lower()] = f"{name}=={metadata.version(name)}"
        except metadata.PackageNotFoundError:
            log.warning("%s is not installed: left out of %s", name, REQUIREMENTS_FILE)
    return [pins[name] for name in sorted(pins)]


def requirements_text(model_dir: str | Path) -> str:
    extras = model_extras(model_dir)
    lines = [
        "# What handler.py imports (Inference Endpoints install this file): this project, then the libraries it was",
        "# written with, pinned.",
        f"{DISTRIBUTION}[{','.join(extras)}]=={__version__}",
        *pinned_requirements(extras),
    ]
    return "\n".join(lines) + "\n"


def endpoint_files(model_dir: str | Path) -> dict[str, str]:
    """File name -> text of the Inference Endpoints files for this model folder."""
    return {HANDLER_FILE: handler_text(), REQUIREMENTS_FILE: requirements_text(model_dir)}


def write_endpoint_files(model_dir: str | Path) -> None:
    for name, text in endpoint_files(model_dir).items():
        (Path(model_dir) / name).write_text(text, encoding="utf-8")
