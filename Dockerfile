# Matching service image (Ray Serve). KubeRay replaces the command with its own `ray start`,
# so CMD only matters for `docker run`.
#
#   CPU (default): docker build -t matching-service:0.1.0 .
#   GPU variant:   docker build --build-arg TORCH_VARIANT=cu128 -t matching-service:0.1.0-gpu .
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_VERSION=2.13.0
ARG TORCH_VARIANT=cpu
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first, with the local version label (+cpu / +cu128) so the PyTorch index's wheel wins;
# pyproject's `torch==2.13.0` is then already satisfied instead of pulling the CUDA build.
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir \
        --extra-index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}" \
        "torch==${TORCH_VERSION}+${TORCH_VARIANT}"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY matching/ matching/
COPY serve_app/ serve_app/
COPY deployments/ deployments/
COPY training/ training/
RUN pip install --no-cache-dir .

FROM ${PYTHON_IMAGE}
ARG APP_UID=1000
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    MATCHING_ARTIFACTS_DIR=/artifacts
# uid 1000 matches the pods' runAsUser in k8s/rayservice.yaml.
RUN groupadd --gid "${APP_UID}" matching \
    && useradd --create-home --uid "${APP_UID}" --gid "${APP_UID}" --shell /bin/bash matching \
    && mkdir /artifacts \
    && chown matching:matching /artifacts
COPY --from=build /opt/venv /opt/venv
WORKDIR /home/matching
USER ${APP_UID}:${APP_UID}
# Serve HTTP, Ray dashboard (KubeRay submits serveConfigV2 there), GCS.
EXPOSE 8000 8265 6379
CMD ["matching", "--help"]
