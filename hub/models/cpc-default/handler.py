"""Hugging Face Inference Endpoints custom handler for this CPC model (written by patent-cpc 0.1.0).

POST {"inputs": "text" or ["text", ...], "parameters": {"top_k": 5, "threshold": 0.3, "details": false}}
answers [[{"label": "G06N3/08", "score": 0.93}, ...], ...]: one list per input, best first, the JSON of `cpc serve`.
Without "threshold": the top_k best codes; with it: the codes decided at that threshold (at most top_k).
A bad request raises an error with a one-line message (the Endpoint answers {"error": message} with status 400).
requirements.txt installs what this file imports.
"""

from pathlib import Path

from spaces.endpoint import CpcEndpointHandler


class EndpointHandler(CpcEndpointHandler):
    def __init__(self, path: str = ""):
        super().__init__(path or str(Path(__file__).resolve().parent))
