"""patent-cpc: CPC classifiers (training, evaluation, export, prediction).

``from cpc_models import CpcPredictor`` is the public entry point; it is imported lazily so that
``import cpc_models`` stays cheap.
"""

from __future__ import annotations

from cpc_models.version import __version__ as __version__  # re-exported

__all__ = ["CpcPredictor", "Prediction", "CodeScore"]


def __getattr__(name: str):
    if name in __all__:
        from cpc_models.predict import predictor

        return getattr(predictor, name)
    raise AttributeError(f"module 'cpc_models' has no attribute {name!r}")
