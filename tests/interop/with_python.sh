#!/usr/bin/env bash
# Runs an interop test script with the Python the interop tests use, the first of:
#   $CONVLAB_PYTHON; the -DCONVLAB_PYTHON the build was configured with
#   ($CONVLAB_CONFIGURED_PYTHON); .venv/bin/python in the checkout (tools/make-venv.sh makes
#   it); python3 on the PATH.
# Exits 77, which ctest reports as a skip, only when there is no Python at all.
set -euo pipefail
source_dir=${CONVLAB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
python=${CONVLAB_PYTHON:-${CONVLAB_CONFIGURED_PYTHON:-}}
if [[ -z $python && -x $source_dir/.venv/bin/python ]]; then python=$source_dir/.venv/bin/python; fi
if [[ -z $python ]]; then python=$(command -v python3 || true); fi
if [[ -z $python ]] || ! command -v "$python" >/dev/null 2>&1; then
  echo "SKIPPED: no python3 found (looked at \$CONVLAB_PYTHON, -DCONVLAB_PYTHON, $source_dir/.venv and the PATH);" \
       "install python3 and run tools/make-venv.sh"
  exit 77
fi
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the source tree
exec "$python" "$@"
