#!/usr/bin/env bash
# Create or reuse .venv/ at the repo root and install the workstation into it (editable).
# Usage: scripts/ensure-venv.sh [EXTRAS]   e.g. "[test]". Reinstalls only when pyproject.toml changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
extras="${1:-}"

py="${PYTHON:-}"
if [ -z "$py" ]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 14) else 1)' 2>/dev/null; then
      py="$candidate"; break
    fi
  done
fi
if [ -z "$py" ]; then
  echo "rxws: Python 3.11, 3.12 or 3.13 is required and none was found on PATH (set PYTHON=/path/to/python3)." >&2
  exit 2
fi

if [ ! -x "$root/.venv/bin/python" ]; then
  echo "rxws: creating $root/.venv with $("$py" --version 2>&1) …" >&2
  if ! "$py" -m venv "$root/.venv"; then
    echo "rxws: could not create the virtual environment; on Debian/Ubuntu install the python3-venv package." >&2
    exit 2
  fi
fi

want="$(sha256sum < "$root/pyproject.toml" | cut -d' ' -f1)$extras"
stamp="$root/.venv/.rxws-installed"
if [ ! -f "$stamp" ] || ! grep -qxF "$want" "$stamp"; then
  echo "rxws: installing the workstation${extras:+ with $extras} into .venv (first run takes a minute) …" >&2
  "$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  if ! "$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root$extras"; then
    echo "rxws: installing dependencies failed (see above); check network access to the package index." >&2
    exit 2
  fi
  echo "$want" >> "$stamp"
fi
