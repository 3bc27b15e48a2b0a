"""A small Flask web app over ``CpcClient``: a textarea, and the predicted codes with their scores as bars.

The backend (``cpc serve`` or the Space) comes from ``spaces.settings`` (CPC_BACKEND_URL, CPC_BACKEND_KIND).
Every value shown goes through Jinja's autoescaping; nothing is marked safe.
"""

from __future__ import annotations

from spaces.webapp.app import create_app, run_webapp

__all__ = ["create_app", "run_webapp"]
