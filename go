#!/usr/bin/env bash
# One entry point for a fresh machine: set up (idempotent, fast when nothing changed), then run.
#   ./go demo      the whole workflow on embedded AWS over real open music
#   ./go test      the test suite (what CI runs)
#   ./go cdk ACTION ENV [ARGS]   the pinned CDK CLI on one environment's stack (deploy, diff, synth, bootstrap)
#   ./go <args>    any takedown command, e.g. ./go local run --catalog DIR --uploads DIR
set -euo pipefail
cd "$(dirname "$0")"

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "takedown needs Python 3.11 or newer as '$PY' (set PYTHON=/path/to/python3.11)" >&2
  exit 2
fi

stamp_inputs() { cat requirements.txt requirements-dev.txt pyproject.toml; "$PY" --version; }
STAMP=".venv/.takedown-setup-$(stamp_inputs | sha256sum | cut -c1-16)"
if [ ! -f "$STAMP" ]; then
  echo "setting up .venv (pinned requirements; first run takes a few minutes) ..." >&2
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
  rm -f .venv/.takedown-setup-*
  touch "$STAMP"
fi
if [ "${1:-}" = "--setup-only" ]; then exit 0; fi

ensure_chromium() {
  # The browser test drives Debian's Chromium (Playwright's own browser download is not used).
  command -v chromium >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser test ..." >&2
    apt-get install -y -qq chromium >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; } \
      || echo "note: could not install chromium; the browser test will be skipped" >&2
  else
    echo "note: chromium is not installed (apt-get install chromium); the browser test will be skipped" >&2
  fi
}

case "${1:-}" in
  test)
    shift
    ensure_chromium
    exec .venv/bin/python -m pytest -m "not slow" "$@"
    ;;
  cdk)
    shift
    exec .venv/bin/python -m takedown_infra.deploy "$@"
    ;;
  "")
    exec .venv/bin/takedown --help
    ;;
  *)
    exec .venv/bin/takedown "$@"
    ;;
esac
