"""Kept for code written against 0.1 (``from cpc_models.predictor import CpcPredictor``); use ``from cpc_models import CpcPredictor``."""

from cpc_models.predict.predictor import CodeScore, CpcPredictor, Prediction

__all__ = ["CpcPredictor", "Prediction", "CodeScore"]
