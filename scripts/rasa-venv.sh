#!/usr/bin/env bash
# Create var/rasa-venv: a Python 3.10 virtualenv with rasa==3.6.21 for `make bench-rasa`.
#
# Rasa 3.6 supports Python 3.8-3.10 only, so this uses pyenv's 3.10 (or RASA_PYTHON=/path/to/python3.10).
# Idempotent: a venv that already imports the pinned Rasa is left as it is. About 2 minutes and
# 2.7 GB the first time; it lives under var/ (gitignored) and is never committed.
set -euo pipefail

cd "$(dirname "$0")/.."
RASA_VERSION=3.6.21
VENV=${RASA_VENV:-var/rasa-venv}
STAMP="$VENV/.rasa-$RASA_VERSION"

if [[ -f "$STAMP" && -x "$VENV/bin/rasa" ]] && "$VENV/bin/python" -c "import rasa, sys; sys.exit(rasa.__version__ != '$RASA_VERSION')" 2>/dev/null; then
  echo "rasa $RASA_VERSION already installed in $VENV"
  exit 0
fi

find_python() {
  if [[ -n "${RASA_PYTHON:-}" ]]; then echo "$RASA_PYTHON"; return; fi
  local root candidates=()
  if command -v pyenv >/dev/null 2>&1; then
    root=$(pyenv root)
    candidates+=("$root"/versions/3.10*/bin/python)
  fi
  candidates+=(/root/.pyenv/versions/3.10*/bin/python "$HOME"/.pyenv/versions/3.10*/bin/python)
  candidates+=("$(command -v python3.10 || true)")
  local c
  for c in "${candidates[@]}"; do
    if [[ -n "$c" && -x "$c" ]] && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
      echo "$c"; return
    fi
  done
  return 1
}

PY310=$(find_python) || {
  echo "rasa-venv: no Python 3.10 found (Rasa $RASA_VERSION needs 3.8-3.10)." >&2
  echo "  Install one with 'pyenv install 3.10' or set RASA_PYTHON=/path/to/python3.10." >&2
  exit 1
}
echo "rasa-venv: using $PY310 ($("$PY310" -V 2>&1))"

if [[ ! -x "$VENV/bin/python" ]]; then
  mkdir -p "$(dirname "$VENV")"
  "$PY310" -m venv "$VENV"
fi

# pip's resolver needs a recent pip for Rasa's large dependency tree; setuptools < 70 keeps
# pkg_resources, which Rasa 3.6 and its TensorFlow 2.12 still import.
quiet_pip() {
  # This machine's pip config lists extra local indexes; their "is ignored" notices are noise.
  # pipefail still fails the script when pip fails.
  "$VENV/bin/python" -m pip install --quiet "$@" 2>&1 | { grep -v "is neither a file nor a directory" || true; }
}
quiet_pip --upgrade "pip>=24,<25" "setuptools<70" wheel
# Extra pins that pip needs to resolve Rasa 3.6 on this machine (none so far).
EXTRA_PINS=()
started=$(date +%s)
quiet_pip "rasa==$RASA_VERSION" "${EXTRA_PINS[@]}"
"$VENV/bin/python" -c "import rasa; print('rasa', rasa.__version__, 'installed')"
echo "rasa-venv: pip install took $(( $(date +%s) - started )) s; size $(du -sh "$VENV" | cut -f1)"
touch "$STAMP"
