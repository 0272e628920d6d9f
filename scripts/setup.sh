#!/usr/bin/env bash
# Create .venv and install the project with everything it needs (idempotent).
# torch goes first, pinned: a bare `torch` requirement would pull several GB of CUDA wheels,
# while torch==2.13.0 resolves to the CPU wheel on these machines.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip wheel
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[local,dev]"
# System tools some tests run, from Debian's packages (CI runs as root): promtool checks and
# unit-tests the alert rules (package prometheus; its server is not started), chromium renders
# the admin page headless.
need=()
command -v promtool >/dev/null || need+=(prometheus)
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
fi
echo "setup: $(.venv/bin/python -c 'import ray, torch, faiss, xgboost; print("ray", ray.__version__, "torch", torch.__version__, "faiss", faiss.__version__, "xgboost", xgboost.__version__)')"
