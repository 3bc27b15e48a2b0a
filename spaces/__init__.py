"""Serving the CPC predictor: the Gradio Space, an Inference-API server, a client and a small web app.

Nothing here loads a model or imports gradio, FastAPI or Flask at import time.
"""
