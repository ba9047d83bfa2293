# syntax=docker/dockerfile:1
# ganserve serving image: python:3.11-slim + onnxruntime-gpu 1.31 with NVIDIA's CUDA 13 and
# cuDNN 9 libraries from pip (see docs/deployment.md for why not nvidia/cuda:*-cudnn-runtime).
# No torch, no training/ code. Build: docker build -t ganserve .
# CPU-only image (no NVIDIA libraries, 2.2 GB smaller): --build-arg CUDA_LIBS=0
# Behind a TLS-inspecting proxy: --build-arg EXTRA_CA_CERTS="$(cat proxy-ca.pem)" (pip only).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG CUDA_LIBS=1
# PEM certificates pip trusts on top of the base image's bundle; this stage only, so they never
# reach the runtime image.
ARG EXTRA_CA_CERTS=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
COPY pyproject.toml ./
# Exactly [project].dependencies (no torch), plus ORT's CUDA 13 / cuDNN 9 wheels when wanted.
RUN if [ -n "$EXTRA_CA_CERTS" ]; then \
      { cat /etc/ssl/certs/ca-certificates.crt; printf '%s\n' "$EXTRA_CA_CERTS"; } > /tmp/pip-ca.pem \
      && export PIP_CERT=/tmp/pip-ca.pem; \
    fi \
 && python -m venv /opt/venv \
 && python -c "import sys, tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; ort = 'onnxruntime-gpu' + ('[cuda,cudnn]' if sys.argv[1] == '1' else '') + '>=1.31,<1.32'; print('\n'.join(ort if d.startswith('onnxruntime-gpu') else d for d in deps))" "$CUDA_LIBS" > requirements.txt \
 && /opt/venv/bin/pip install --no-compile -r requirements.txt \
 && find /opt/venv -type d -name __pycache__ -prune -exec rm -rf {} + \
 && find /opt/venv -path '*/site-packages/nvidia/*' -name 'lib*.so*' -printf '%h\n' | sort -u > /opt/venv/nvidia-libs.conf

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="ganserve" \
      org.opencontainers.image.description="GAN serving: FastAPI + ONNX Runtime (CUDA 13, cuDNN 9)"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    GANSERVE_HOST=0.0.0.0 \
    GANSERVE_PORT=8000 \
    GANSERVE_GRPC_PORT=8001 \
    GANSERVE_MODELS_DIR=/app/models
COPY --from=build /opt/venv /opt/venv
# The pip-installed CUDA/cuDNN folders go on the loader path (libcuda itself comes from the
# host driver through the NVIDIA container toolkit).
RUN cp /opt/venv/nvidia-libs.conf /etc/ld.so.conf.d/zz-nvidia-pip.conf \
 && ldconfig \
 && groupadd --system --gid 10001 ganserve \
 && useradd --system --uid 10001 --gid ganserve --home-dir /app --shell /usr/sbin/nologin ganserve
WORKDIR /app
COPY --chown=root:root service/ /app/service/
# Shipped models, baked in; mount a folder on /app/models to replace them.
COPY --chown=root:root models/ /app/models/
USER 10001:10001
# HTTP (REST, /v2) and gRPC (the Open Inference Protocol, as Triton's 8001).
EXPOSE 8000 8001
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('GANSERVE_PORT', '8000') + '/healthz', timeout=4)"]
# Exec form: python is PID 1 and gets SIGTERM; uvicorn stops accepting, drains in-flight
# requests (timeout_graceful_shutdown) and exits.
CMD ["python", "-m", "service"]
