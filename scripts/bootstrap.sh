#!/usr/bin/env bash
# Install everything goldentime needs on a fresh Debian machine: Debian packages (PostgreSQL 15,
# PostGIS 3, pgRouting, Chromium for the browser tests), then the Python virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
[ -f /usr/share/postgresql/15/extension/postgis.control ] || need+=(postgresql-15-postgis-3)
[ -f /usr/share/postgresql/15/extension/pgrouting.control ] || need+=(postgresql-15-pgrouting)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -d /usr/share/fonts/truetype/nanum ] || need+=(fonts-nanum)  # Korean labels in the console's screenshots/tests
[ -x /usr/bin/wrk ] || need+=(wrk)  # HTTP load generator for benchmarks/nearest.py
[ -x /usr/bin/ffmpeg ] || need+=(ffmpeg)  # the HTTP camera test source of tests/test_recorder_fleet.py
[ -x /usr/bin/ogrinfo ] || need+=(gdal-bin)  # the GIS client of tests/test_ogc_gdal.py (OAPIF driver)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -U pip setuptools wheel
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
echo "installed: $(.venv/bin/goldentime --help >/dev/null && echo goldentime CLI ready)"
