#!/usr/bin/env bash
# Makes the Python virtual environment the tests use, from PyPI (no PyTorch or JAX): numpy,
# safetensors and Pillow (interop tests), nanobind (the CMake build finds it here and builds
# the Python module), pytest (the Python tests), and nbclient, nbformat and ipykernel (the
# notebook's test). The tests find DIR/bin/python by themselves when DIR is the default;
# otherwise set CONVLAB_PYTHON or configure with -DCONVLAB_PYTHON=DIR/bin/python.
#
#   tools/make-venv.sh [DIR]     (default: .venv in the checkout)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$root/.venv}"
if [[ "$dir" == "-h" || "$dir" == "--help" ]]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
packages=(numpy safetensors Pillow nanobind pytest nbclient nbformat ipykernel)
modules="numpy, safetensors, PIL, nanobind, pytest, nbclient, nbformat, ipykernel"
if [[ -x "$dir/bin/python" ]] && "$dir/bin/python" -c "import $modules" 2>/dev/null; then
  echo "test venv: $dir/bin/python (already has ${packages[*]})"
  exit 0
fi
command -v python3 >/dev/null || { echo "make-venv: python3 is missing (tools/install-deps.sh installs it)" >&2; exit 1; }
python3 -m venv "$dir"
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check "${packages[@]}"
echo "test venv: $dir/bin/python ($("$dir/bin/python" -c 'import numpy, safetensors, PIL, nanobind; print(f"numpy {numpy.__version__}, safetensors {safetensors.__version__}, Pillow {PIL.__version__}, nanobind {nanobind.__version__}")'))"
