#!/usr/bin/env bash
# Installs the Debian packages convlab builds against. The CUDA toolkit (nvcc, cuDNN,
# cuRAND, cuBLAS) is not a Debian package here: it comes with the machine, and the build
# turns CUDA off by itself when nvcc is missing.
set -euo pipefail

packages=(
  cmake g++ make
  libfmt-dev          # formatted output
  libgtest-dev        # tests
  libyaml-cpp-dev     # the reference's YAML configs
  libopenblas-openmp-dev  # CPU GEMM (the OpenMP build, sharing convlab's thread pool)
  liblapacke-dev      # LAPACK's C interface: eigendecompositions (Procrustes distance)
  libpng-dev          # PNG decoding of data sets
  libturbojpeg0-dev   # JPEG decoding (libjpeg-turbo, as Pillow decodes)
  pkg-config          # finds libturbojpeg
  libstb-dev          # tests: writing PNG images and reading figures back
  zlib1g-dev          # .tar.gz data archives
  libcairo2-dev       # figures: PNG, PDF and SVG, anti-aliased, with real font metrics
  libgif-dev          # animated GIFs
  nlohmann-json3-dev  # safetensors headers, JSON summaries
  fonts-dejavu-core   # the font of figures
  poppler-utils       # tests: pdftotext checks that the text in PDF figures is extractable
  python3 python3-venv  # the tests' venv (tools/make-venv.sh), tools/sweep
  python3-dev         # Python's headers: the Python module (apps/python, pip install .)
  curl ca-certificates  # downloading CIFAR-10 where no copy is found (tools/fetch-cifar10.sh)
  clang               # the sanitizer and fuzzing build (.ci/run, tools/fuzz.sh)
  libclang-rt-dev     # clang's AddressSanitizer, UBSan and libFuzzer runtimes
  libomp-dev          # OpenMP for clang
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "convlab dependencies: all installed"
