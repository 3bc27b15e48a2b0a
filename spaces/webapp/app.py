"""The Flask app factory and its runner."""

from __future__ import annotations

import logging

from cpc_dataset.errors import CpcError, InputError
from spaces.formatting import check_text, code_levels
from spaces.settings import ServingSettings, load_settings, mask_url

log = logging.getLogger(__name__)


def create_app(client=None, settings: ServingSettings | None = None):
    """The web app; ``client`` (anything with ``predict(texts, top_k=)``) defaults to a ``CpcClient`` from settings."""
    from flask import Flask, render_template, request

    from spaces.client import BackendError, BadReplyError, CpcClient

    settings = settings or load_settings(needs_model=False)
    client = client or CpcClient.from_settings(settings)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_chars * 4 + 4096  # form-encoded text, with room to spare

    backend_url = mask_url(client.url) if hasattr(client, "url") else "local"  # never the password or token

    def page(status: int = 200, **context):
        context.setdefault("text", "")
        context.setdefault("top_k", settings.default_top_k)
        return render_template(
            "index.html",
            backend_url=backend_url,
            backend_kind=getattr(client, "kind", ""),
            max_chars=settings.max_chars,
            **context,
        ), status

    @app.get("/")
    def index():
        return page()

    @app.post("/")
    def predict():
        text = request.form.get("text", "")
        top_k = request.form.get("top_k", type=int) or settings.default_top_k
        top_k = max(1, min(top_k, 50))
        try:
            check_text(text, settings.max_chars)
            prediction = client.predict([text], top_k=top_k)[0]
            if prediction.reason:
                raise InputError(prediction.reason)
        except InputError as exc:
            return page(422, text=text[: settings.max_chars], top_k=top_k, error=str(exc))
        except BadReplyError as exc:
            log.warning("%s", exc)
            return page(502, text=text, top_k=top_k, error=str(exc))
        except BackendError as exc:
            return page(503, text=text, top_k=top_k, error=str(exc))
        except CpcError as exc:
            return page(500, text=text, top_k=top_k, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - a reply no check foresaw: a page, not a traceback
            log.warning("unusable backend reply: %s: %s", type(exc).__name__, str(exc)[:200])
            return page(502, text=text, top_k=top_k, error="Bad backend reply: the backend's answer could not be read")
        rows = [
            {
                "code": c.code,
                "score": c.score,
                "levels": code_levels(c.code),
                "title": prediction.titles.get(c.code, ""),
            }
            for c in prediction.codes
        ]
        return page(
            text=text,
            top_k=top_k,
            rows=rows,
            truncated=prediction.truncated,
            scope_note=prediction.scope_note,
            backoff=prediction.backoff,
        )

    @app.get("/health")
    def health():
        return {"status": "ok", "backend": backend_url}

    @app.after_request
    def security_headers(response):
        # defence in depth beside autoescaping: the page runs no script at all
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.errorhandler(413)
    def too_large(_exc):
        return page(413, error=f"Bad input: the text is too long; the limit is {settings.max_chars:,} characters")

    @app.errorhandler(400)
    def bad_request(_exc):
        return page(400, error="Bad input: the form could not be read (binary data?)")

    return app


def run_webapp(settings: ServingSettings | None = None) -> None:
    """Serve the web app with waitress, a production WSGI server: ``max_connections`` open connections at most,
    a connection silent for ``header_timeout`` seconds is closed, and each request gets ``header_timeout`` seconds
    for its headers and ``body_timeout`` for its body, however slowly it trickles (``deadlines.py``)."""
    from waitress import create_server

    from spaces.limits import allow_open_files, limit_log_rate
    from spaces.webapp.deadlines import use_deadlines

    settings = settings or load_settings(needs_model=False)
    app = create_app(settings=settings)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO line per request would show the backend URL
    limit_log_rate("waitress", "waitress.queue", "spaces.webapp.deadlines", "spaces.webapp.app")
    allow_open_files(settings.max_connections + 64)
    log.info(
        "web app on http://%s:%d, backend %s (%s)",
        settings.webapp_host,
        settings.webapp_port,
        mask_url(settings.backend_url),
        settings.backend_kind,
    )
    server = create_server(
        app,
        host=settings.webapp_host,
        port=settings.webapp_port,
        threads=8,
        connection_limit=settings.max_connections,
        channel_timeout=int(max(1, settings.header_timeout)),
        cleanup_interval=max(1, int(settings.header_timeout) // 2),
        asyncore_use_poll=True,  # select() cannot watch more than 1,024 sockets
        max_request_body_size=settings.max_body_bytes,  # Flask's own, smaller limit answers with a page
        max_request_header_size=settings.max_header_bytes,
        ident="cpc-webapp",
    )
    use_deadlines(server, settings.header_timeout, settings.body_timeout)
    server.run()
