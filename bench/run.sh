#!/usr/bin/env bash
# Fingerprint benchmark: installs ffmpeg, rubberband-cli and espeak-ng if missing, then runs.
#   bench/run.sh [--quick] [--seed N] [--full-scale] [--jobs N] [--corpus default|extended]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v ffmpeg >/dev/null || ! command -v rubberband >/dev/null || ! command -v espeak-ng >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq ffmpeg rubberband-cli espeak-ng
fi
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
exec "$PY" -m bench.fingerprint "$@"
