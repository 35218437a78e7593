#!/usr/bin/env bash
# Builds convlab for Hopper (sm_90) on a machine without a GPU and gathers what a GPU machine
# needs to run it into build-gpu/bundle: the test and app executables (stripped, RPATH
# $ORIGIN) and the shared libraries that machine lacks (everything but glibc, libstdc++ and
# the CUDA libraries, which tools/gpu-env.sh finds there), packed as build-gpu/bundle.tar.xz
# (~14 MB; OpenBLAS alone is 36 MB unpacked; unpacked there with tar, or with Python's
# tarfile where xz is missing) with a copy of the CIFAR-10 archive beside it when one is
# found. Carry both to the GPU machine and run tools/gpu-check.sh there, as docs/gpu.md plans:
#   carry: ["build-gpu/bundle.tar.xz", "build-gpu/cifar10-jpg.tar.gz"]
#   command: DATA=build-gpu/cifar10-jpg.tar.gz tools/gpu-check.sh      (timeout_s 420)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-gpu}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_RPATH='$ORIGIN' >/dev/null
cmake --build "$build" -j2 --target convlab_tests convlab-bench convlab-train convlab-analyze
bundle="$build/bundle"
rm -rf "$bundle" && mkdir -p "$bundle"
for exe in tests/convlab_tests apps/convlab-bench apps/convlab-train apps/convlab-analyze; do
  cp "$build/$exe" "$bundle/" && strip "$bundle/$(basename "$exe")"
done
# Libraries to take along: not the C/C++ runtime, not CUDA's (the GPU machine has its own).
keep_out='^(linux-vdso|libc\.|libm\.|libdl\.|librt\.|libpthread\.|ld-linux|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas|libcudnn|libnvrtc|libcusolver|libcusparse|libcurand|libnvJitLink|libz\.)'
ldd "$bundle"/convlab_tests "$bundle"/convlab-analyze | awk '/=>/ {print $1, $3}' | sort -u | while read -r name path; do
  [[ "$name" =~ $keep_out ]] && continue
  cp -L "$path" "$bundle/$name"
done
# The font of figures: the GPU machine may have no Debian fonts (gpu-check.sh points
# CONVLAB_FONT at this copy).
font=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
[[ -f $font ]] && cp "$font" "$bundle/"
tar -C "$build" -cJf "$build/bundle.tar.xz" bundle
data=${DATA:-../shared/data/cifar10-jpg.tar.gz}
[[ -f $data ]] && cp "$data" "$build/cifar10-jpg.tar.gz"
du -sh "$bundle" "$build/bundle.tar.xz"
ls "$bundle"
