#!/usr/bin/env bash
# Makes the Python virtual environment the interop tests use: numpy, safetensors and Pillow
# from PyPI (small; no PyTorch or JAX). The tests find DIR/bin/python by themselves when DIR
# is the default; otherwise set CONVLAB_PYTHON or configure with -DCONVLAB_PYTHON=DIR/bin/python.
#
#   tools/make-venv.sh [DIR]     (default: .venv in the checkout)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$root/.venv}"
if [[ "$dir" == "-h" || "$dir" == "--help" ]]; then
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
packages=(numpy safetensors Pillow)
if [[ -x "$dir/bin/python" ]] && "$dir/bin/python" -c "import numpy, safetensors, PIL" 2>/dev/null; then
  echo "interop venv: $dir/bin/python (already has ${packages[*]})"
  exit 0
fi
command -v python3 >/dev/null || { echo "make-venv: python3 is missing (tools/install-deps.sh installs it)" >&2; exit 1; }
python3 -m venv "$dir"
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check "${packages[@]}"
echo "interop venv: $dir/bin/python ($("$dir/bin/python" -c 'import numpy, safetensors, PIL; print(f"numpy {numpy.__version__}, safetensors {safetensors.__version__}, Pillow {PIL.__version__}")'))"
