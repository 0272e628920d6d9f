#!/usr/bin/env bash
# The test command: set up, check services, lint, type-check, check the layering rules,
# then all three test tiers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/services.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
.venv/bin/python -m pytest -p no:cacheprovider "$@"
