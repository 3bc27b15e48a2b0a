# `cpc serve` (the Hugging Face Inference API contract: POST /, GET /health) with the default model, on CPU.
#   docker build -t patent-cpc-serve .
#   docker run --rm -p 8000:8000 patent-cpc-serve
# Another model: mount its folder and set CPC_MODEL (-v "$PWD/my-model:/models/my-model" -e CPC_MODEL=/models/my-model),
# or set CPC_MODEL to a Hub repo id. Settings: the CPC_* variables of spaces/settings.py (docker run -e ...).
# tests/integration/test_deploy.py runs this file's RUN, ENV and CMD lines in a fresh virtual environment.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY setup.py setup.cfg pyproject.toml constraints.txt README.md ./
COPY cpc_dataset ./cpc_dataset
COPY cpc_models ./cpc_models
COPY spaces ./spaces
RUN pip install -c constraints.txt '.[serve]'
COPY hub/models/cpc-default ./hub/models/cpc-default

RUN useradd --create-home --uid 10001 cpc
USER cpc

# Inside the image only: the server listens on every interface of the container (its default is 127.0.0.1).
ENV CPC_SERVE_HOST=0.0.0.0 CPC_SERVE_PORT=8000 CPC_MODEL=hub/models/cpc-default
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ['CPC_SERVE_PORT'], timeout=4)"
CMD ["cpc", "serve"]
