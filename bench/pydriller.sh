#!/usr/bin/env bash
# Installs PyDriller (pinned, from PyPI) into a virtualenv outside the project, idempotently,
# and prints the path of its python for `l9 bench ingest --python`:
#   l9 bench ingest --repo R --python "$(bench/pydriller.sh)"
set -euo pipefail
venv="${L9_PYDRILLER_VENV:-$HOME/.cache/l9/pydriller-venv}"
if ! "$venv/bin/python" -c "import pydriller" 2>/dev/null; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "pydriller==2.7" >&2
fi
echo "$venv/bin/python"
