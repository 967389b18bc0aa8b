#!/usr/bin/env bash
# Run the whole test suite against a real PostGIS (the embedded cluster, started here, or DATABASE_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${DATABASE_URL:-}" ]; then .venv/bin/goldentime db start; fi
exec .venv/bin/python -m pytest -q "$@"
