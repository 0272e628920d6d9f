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
echo "setup: $(.venv/bin/python -c 'import ray, torch, faiss; print("ray", ray.__version__, "torch", torch.__version__, "faiss", faiss.__version__)')"
